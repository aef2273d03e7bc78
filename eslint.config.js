// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-imports': 'off',
    },
  },
  {
    // The web UI (ui/) runs in browsers.
    files: ['ui/**/*.{ts,tsx}'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    // storage-drivers/ knows bytes and keys only; src/registry/ is the pure domain.
    files: ['storage-drivers/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['../src/*', 'koa', 'better-sqlite3'] }] },
  },
  {
    files: ['src/registry/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: ['koa', '@koa/*', 'better-sqlite3', '@aws-sdk/*', '../http/*', '../metadata/*'] },
      ],
    },
  },
);
