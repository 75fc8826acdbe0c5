// ESLint for the TypeScript outside web/ (the Svelte console gets its own config later).
// `npm run lint` runs this and `prettier --check`; formatting is Prettier's job, not ESLint's.
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // Build output, installs, and the plain JS/ESM config files (not part of any tsconfig).
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'web/', 'bench/results/', '**/*.js', '**/*.mjs'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
  },
  {
    // Tests poke at untyped JSON bodies, SQLite rows and error objects on purpose:
    // typing every one of them would add noise, not safety.
    files: ['test/**/*.ts', 'server/src/**/*.spec.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-function-type': 'warn',
      '@typescript-eslint/no-require-imports': 'warn',
      '@typescript-eslint/no-unnecessary-type-assertion': 'warn',
    },
  },
  {
    rules: {
      // Underscore-named parameters are the defaults of an interface a subclass overrides.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Async methods that fulfil an async interface (auth-mode strategies, vault writes) need no await.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // Left as warnings while the remaining untyped spots (Express request bodies, http-proxy's
    // handler types, TypeORM partial entities) are typed one by one; every new file is clean.
    files: ['server/src/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'warn',
      '@typescript-eslint/no-unsafe-argument': 'warn',
      '@typescript-eslint/no-unsafe-assignment': 'warn',
      '@typescript-eslint/no-unsafe-call': 'warn',
      '@typescript-eslint/no-unsafe-member-access': 'warn',
      '@typescript-eslint/no-unsafe-return': 'warn',
      '@typescript-eslint/no-base-to-string': 'warn',
      '@typescript-eslint/no-floating-promises': 'warn',
      '@typescript-eslint/prefer-promise-reject-errors': 'warn',
      '@typescript-eslint/restrict-template-expressions': 'warn',
      '@typescript-eslint/no-require-imports': 'warn',
    },
  },
);
