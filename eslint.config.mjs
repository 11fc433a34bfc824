// ESLint (flat config) for the TypeScript keeper, scripts, benchmarks and tests, with type
// information so that promise rules can see what returns a promise. `npm run lint` runs it.
import js from "@eslint/js";
import { defineConfig } from "eslint/config";
import globals from "globals";
import tseslint from "typescript-eslint";

export default defineConfig(
  // generated or installed, not ours to lint
  { ignores: ["node_modules/", "artifacts/", "cache/", "typechain-types/", "coverage/", "dist/", "data/", "deployments/"] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // A promise nobody awaits loses its rejection (an unhandled rejection ends the keeper) and its
      // ordering: the reason type information is on. `void p` marks a deliberate fire-and-forget.
      "@typescript-eslint/no-floating-promises": "error",
      // A promise passed where a plain value or void callback is expected is the same bug, one step removed.
      "@typescript-eslint/no-misused-promises": "error",
      // Unused names are findings, but `_name` marks one kept on purpose (a callback's signature).
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrorsIgnorePattern: "^_" }],
    },
  },
  {
    files: ["test/**/*.ts"],
    rules: {
      // chai's property assertions (`expect(x).to.be.true`) are expressions by design
      "@typescript-eslint/no-unused-expressions": "off",
    },
  },
  {
    // plain CommonJS scripts run by node (scripts/*.js, .solcover.js): no type information
    files: ["**/*.js"],
    languageOptions: { sourceType: "commonjs", globals: globals.node },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
);
