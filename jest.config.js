/**
 * Three tiers, each a Jest project (`npm test` runs all; `npm run test:unit|test:medium|test:e2e` one):
 *   unit    pure modules, no I/O: `*.spec.ts` beside the module in server/src, or under test/
 *   medium  one or a few Nest services against a real SQLite file (test/medium/nest-context.ts)
 *   e2e     a whole gateway on loopback, driven over HTTP
 */
const shared = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: false }],
    // oauth4webapi ships only ES modules; Jest's module loader needs them as CommonJS.
    '^.+\\.js$': ['ts-jest', { tsconfig: 'tsconfig.jest-esm.json', diagnostics: false }],
  },
  transformIgnorePatterns: ['/node_modules/(?!(oauth4webapi|jose|openid-client)/)'],
  setupFiles: ['<rootDir>/test/sqlite-error-realm.setup.js'],
};

/** @type {import('jest').Config} */
module.exports = {
  // A global option: Jest ignores it inside `projects`.
  testTimeout: 60000,
  // A resource a test leaves open would keep Jest alive after the run and CI would hang until its
  // time limit; exit anyway, and let the teardown name what was left so the leak gets fixed.
  forceExit: true,
  globalSetup: '<rootDir>/test/open-handles.setup.js',
  globalTeardown: '<rootDir>/test/open-handles.teardown.js',
  projects: [
    { ...shared, displayName: 'unit', roots: ['<rootDir>/test', '<rootDir>/server/src'], testMatch: ['**/*.spec.ts'] },
    { ...shared, displayName: 'medium', roots: ['<rootDir>/test'], testMatch: ['**/*.medium-spec.ts'] },
    { ...shared, displayName: 'e2e', roots: ['<rootDir>/test'], testMatch: ['**/*.e2e-spec.ts'] },
  ],
};
