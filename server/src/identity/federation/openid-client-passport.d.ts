// openid-client's passport strategy is the package subpath `openid-client/passport` (an `exports` entry),
// which this project's `moduleResolution: node` does not read; Node and Jest resolve it at run time.
declare module 'openid-client/passport' {
  export * from 'openid-client/build/passport';
}
