/**
 * The repository's layering, as named rules over source files: what the product (keeper/, and the
 * local network it embeds, localnet/) may depend on. A rule sees one file (its repo-relative path and
 * text) and answers with violations; import rules read the file's import and require specifiers with
 * TypeScript's own pre-processor (import / export-from / import type / require() / import() / import
 * x = require(), never comments or plain strings) and resolve relative ones to repo paths. Bare
 * specifiers are packages (tsconfig sets no baseUrl), so they never name a repo folder. A path built at
 * run time (require(path.join(...))) is not seen: none of these rules could judge it anyway.
 */
import path from "node:path";
import ts from "typescript";

/** One source file: `path` relative to the repository root, with forward slashes. */
export interface SourceFile {
  path: string;
  text: string;
}

/** One import or require in a file: the specifier as written, and its repo path when relative. */
export interface ImportSite {
  specifier: string;
  /** Repo-relative path the specifier points to (no extension added), or undefined for a package. */
  resolved: string | undefined;
  line: number;
}

export interface Violation {
  rule: string;
  file: string;
  line: number;
  specifier: string;
  reason: string;
}

export interface LayeringRule {
  name: string;
  check(file: SourceFile): Omit<Violation, "rule">[];
}

/** Whether repo path `p` is folder or file `dir` or lies under it. */
export function isUnder(p: string, dir: string): boolean {
  return p === dir || p.startsWith(`${dir}/`);
}

/** Every import and require specifier in `file`, resolved against its folder when relative. */
export function importsOf(file: SourceFile): ImportSite[] {
  const { importedFiles } = ts.preProcessFile(file.text, true, true);
  return importedFiles.map(({ fileName, pos }) => ({
    specifier: fileName,
    resolved: fileName.startsWith(".") ? path.posix.normalize(path.posix.join(path.posix.dirname(file.path), fileName)) : undefined,
    line: file.text.slice(0, pos).split("\n").length,
  }));
}

export interface ImportBan {
  name: string;
  /** Folders (or files) whose sources the rule applies to. */
  from: string[];
  /** Folders (or files) they must not import. */
  to: string[];
  /** Files under `from` that may import `to` all the same. */
  except?: string[];
}

/** A rule: no file under `from` (outside `except`) imports anything under `to`. */
export function banImports(ban: ImportBan): LayeringRule {
  return {
    name: ban.name,
    check(file) {
      if (!ban.from.some((dir) => isUnder(file.path, dir))) return [];
      if (ban.except?.includes(file.path)) return [];
      return importsOf(file).flatMap(({ specifier, resolved, line }) => {
        const target = resolved === undefined ? undefined : ban.to.find((dir) => isUnder(resolved, dir));
        return target === undefined ? [] : [{ file: file.path, line, specifier, reason: `resolves to ${resolved}, under ${target}/` }];
      });
    },
  };
}

/** Database drivers: only keeper/store/ may import them. */
const DRIVERS = ["better-sqlite3", "pg", "kysely"];
/** Methods of a database connection that only a repository calls. */
const DRIVER_CALLS = new Set(["prepare", "transaction", "pragma"]);
/** A string that is a SQL statement (upper-case keywords, as every query here is written). */
const SQL_TEXT =
  /^\s*(SELECT\s[\s\S]*\sFROM\s|INSERT\s+(OR\s+\w+\s+)?INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s|CREATE\s+(TABLE|INDEX|UNIQUE)|DROP\s+(TABLE|INDEX)|ALTER\s+TABLE|PRAGMA\s|BEGIN\b|COMMIT\b|ROLLBACK\b|WITH\s+\w+\s+AS\s*\()/;

/**
 * A rule: files under `from` (outside `store`) neither import a database driver nor the store's
 * internals (the connection and its unit of work), call a connection's methods, or hold SQL text.
 * They reach the database only through the repositories of keeper/store/store.ts.
 */
export function storeOnly(opts: { name: string; from: string[]; store: string; internals: string[] }): LayeringRule {
  return {
    name: opts.name,
    check(file) {
      if (!opts.from.some((dir) => isUnder(file.path, dir)) || isUnder(file.path, opts.store)) return [];
      const found: Omit<Violation, "rule">[] = importsOf(file).flatMap(({ specifier, resolved, line }) => {
        if (resolved === undefined)
          return DRIVERS.includes(specifier) ? [{ file: file.path, line, specifier, reason: "a database driver" }] : [];
        const internal = opts.internals.find((p) => resolved === p);
        return internal ? [{ file: file.path, line, specifier, reason: `the store's internals (${internal})` }] : [];
      });
      const source = ts.createSourceFile(file.path, file.text, ts.ScriptTarget.Latest, true);
      const lineOf = (node: ts.Node) => source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
      const visit = (node: ts.Node): void => {
        if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && DRIVER_CALLS.has(node.expression.name.text))
          found.push({
            file: file.path,
            line: lineOf(node),
            specifier: `.${node.expression.name.text}(`,
            reason: "a database connection's method",
          });
        if ((ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateHead(node)) && SQL_TEXT.test(node.text))
          found.push({
            file: file.path,
            line: lineOf(node),
            specifier: node.text.trim().split(/\s+/).slice(0, 3).join(" "),
            reason: "SQL text",
          });
        ts.forEachChild(node, visit);
      };
      visit(source);
      return found.sort((a, b) => a.line - b.line);
    },
  };
}

/** The project's rules. Each name says the rule; add new ones here (import bans or any other check). */
export const LAYERING_RULES: LayeringRule[] = [
  banImports({
    name: "the keeper does not import tests or scripts",
    from: ["keeper"],
    to: ["test", "scripts"],
  }),
  banImports({
    name: "the local network does not import tests or scripts",
    from: ["localnet"],
    to: ["test", "scripts"],
  }),
  banImports({
    // Production code talks to a chain by RPC_URL; only the embedded default starts the local one.
    name: "the keeper reaches the local network only from its embedded default (keeper/app.ts)",
    from: ["keeper"],
    to: ["localnet"],
    except: ["keeper/app.ts"],
  }),
  storeOnly({
    name: "the keeper reaches its database only through keeper/store/ repositories",
    from: ["keeper"],
    store: "keeper/store",
    internals: ["keeper/store/db", "keeper/store/unit"],
  }),
];

/** Every violation of `rules` in `files`, in file order. */
export function checkLayering(files: SourceFile[], rules: LayeringRule[]): Violation[] {
  return files.flatMap((file) => rules.flatMap((rule) => rule.check(file).map((v) => ({ rule: rule.name, ...v }))));
}

/** One line per violation, grouped by rule: `file:line imports "specifier" (reason)`. */
export function formatViolations(violations: Violation[]): string {
  const byRule = new Map<string, Violation[]>();
  for (const v of violations) byRule.set(v.rule, [...(byRule.get(v.rule) ?? []), v]);
  return [...byRule]
    .map(([rule, vs]) => [`${rule}:`, ...vs.map((v) => `  ${v.file}:${v.line} imports "${v.specifier}" (${v.reason})`)].join("\n"))
    .join("\n");
}
