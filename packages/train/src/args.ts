// Command-line flags: a table of typed flags per command. Unknown flags and bad values are
// errors that name the flag; nothing is silently ignored. `--help` prints the table with defaults.

export type FlagType = 'string' | 'int' | 'number' | 'boolean';

export interface FlagSpec {
  type: FlagType;
  default?: string | number | boolean;
  help: string;
  /** Allowed values for a string flag. */
  choices?: readonly string[];
  /** Lower bound for numbers (inclusive). */
  min?: number;
}

export type FlagTable = Record<string, FlagSpec>;
export type ParsedFlags = Record<string, string | number | boolean | undefined>;

export class UsageError extends Error {}

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Parse `--name value`, `--name=value` and boolean `--name` / `--no-name`; keys come back camelCased. */
export function parseFlags(argv: readonly string[], table: FlagTable, command: string): ParsedFlags {
  const out: ParsedFlags = {};
  for (const [name, spec] of Object.entries(table)) out[camel(name)] = spec.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') continue; // pnpm passes it through before script arguments
    if (!arg.startsWith('--')) throw new UsageError(`${command}: unexpected argument "${arg}" (flags start with --; see --help)`);
    let name = arg.slice(2);
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    let spec = table[name];
    if (!spec && name.startsWith('no-') && table[name.slice(3)]?.type === 'boolean' && value === undefined) {
      out[camel(name.slice(3))] = false;
      continue;
    }
    if (!spec) {
      const near = Object.keys(table).filter((k) => k.includes(name) || name.includes(k)).slice(0, 3);
      throw new UsageError(`${command}: unknown flag --${name}${near.length ? ` (did you mean ${near.map((n) => `--${n}`).join(', ')}?)` : ''}; see --help`);
    }
    if (spec.type === 'boolean') {
      if (value === undefined) out[camel(name)] = true;
      else if (value === 'true' || value === 'false') out[camel(name)] = value === 'true';
      else throw new UsageError(`${command}: --${name} takes true or false, got "${value}"`);
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined || (value.startsWith('--') && spec.type === 'string')) throw new UsageError(`${command}: --${name} needs a value`);
    }
    out[camel(name)] = convert(command, name, spec, value);
  }
  return out;
}

function convert(command: string, name: string, spec: FlagSpec, value: string): string | number {
  if (spec.type === 'string') {
    if (spec.choices && !spec.choices.includes(value)) {
      throw new UsageError(`${command}: --${name} must be one of ${spec.choices.join(', ')}; got "${value}"`);
    }
    return value;
  }
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${command}: --${name} takes a number, got "${value}"`);
  if (spec.type === 'int' && !Number.isInteger(n)) throw new UsageError(`${command}: --${name} takes an integer, got "${value}"`);
  if (spec.min !== undefined && n < spec.min) throw new UsageError(`${command}: --${name} must be at least ${spec.min}, got ${value}`);
  return n;
}

export function formatHelp(command: string, summary: string, table: FlagTable): string {
  const rows = Object.entries(table).map(([name, s]) => {
    const left = `  --${name}${s.type === 'boolean' ? '' : ` <${s.choices ? s.choices.join('|') : s.type}>`}`;
    const def = s.default === undefined ? '' : ` (default: ${String(s.default)})`;
    return [left, `${s.help}${def}`] as const;
  });
  const width = Math.min(44, Math.max(...rows.map(([l]) => l.length)) + 2);
  return [`${command}: ${summary}`, '', 'Flags:', ...rows.map(([l, r]) => (l.length + 2 > width ? `${l}\n${' '.repeat(width)}${r}` : `${l.padEnd(width)}${r}`))].join('\n');
}

/** Typed getters over parsed flags (after parseFlags, every flag has its declared type). */
export function str(f: ParsedFlags, k: string): string | undefined {
  const v = f[k];
  return v === undefined ? undefined : String(v);
}
export function num(f: ParsedFlags, k: string): number | undefined {
  const v = f[k];
  return v === undefined ? undefined : Number(v);
}
export function bool(f: ParsedFlags, k: string): boolean {
  return f[k] === true;
}
