/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.spec.ts', '**/*.e2e-spec.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: false }],
    // oauth4webapi ships only ES modules; Jest's module loader needs them as CommonJS.
    '^.+\\.js$': ['ts-jest', { tsconfig: 'tsconfig.jest-esm.json', diagnostics: false }],
  },
  transformIgnorePatterns: ['/node_modules/(?!(oauth4webapi|jose|openid-client)/)'],
  testTimeout: 60000,
};
