// memshift's lint rules (ESLint with typescript-eslint), checked by `npm test` beside tsc, Prettier and the import rules.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.memshift/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // Underscore names are deliberate discards (`const { type: _t, ...rest } = m`).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Every swallowed error says why in a comment, which this rule accepts.
      'no-empty': ['error', { allowEmptyCatch: false }],
      eqeqeq: ['error', 'always'],
      'prefer-const': 'error',
      // Control characters are matched on purpose: NUL (unstorable in PostgreSQL), Python's line separators.
      'no-control-regex': 'off',
    },
  },
  // Tests read JSON replies of every shape; `any` there keeps assertions short and tsc still checks the rest.
  { files: ['test/**/*.ts'], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
  { files: ['src/bin/*.js'], languageOptions: { globals: { process: 'readonly' } } },
  // The console's scripts run in the browser, as modules.
  { files: ['src/dashboard/assets/*.js'], languageOptions: { sourceType: 'module', globals: globals.browser } },
);
