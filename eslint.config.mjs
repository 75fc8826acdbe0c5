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
    },
  },
);
