// Progress on long work: a bar redrawn in place on a terminal, plain periodic lines otherwise
// (logs, CI), with rate and ETA either way.

export interface ProgressFields {
  label: string;
  done: number;
  total: number;
  /** Extra fields shown after the bar, e.g. { loss: '0.1234', acc: '97.1%' }. */
  fields?: Record<string, string>;
  rate?: number;
  rateUnit?: string;
}

function clock(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}` : `${m}:${String(r).padStart(2, '0')}`;
}

export class Progress {
  private lastPlain = 0;
  private drawn = false;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly plainEverySeconds = 10,
    private readonly tty = Boolean(stream.isTTY) && process.env['CI'] !== 'true',
  ) {}

  update(p: ProgressFields, etaSeconds?: number, force = false): void {
    const pct = p.total > 0 ? p.done / p.total : 0;
    const extra = Object.entries(p.fields ?? {}).map(([k, v]) => `${k} ${v}`).join('  ');
    const rate = p.rate !== undefined ? `  ${p.rate.toFixed(0)} ${p.rateUnit ?? 'it/s'}` : '';
    const eta = etaSeconds !== undefined ? `  ETA ${clock(etaSeconds)}` : '';
    if (this.tty) {
      const width = 24;
      const fill = Math.round(pct * width);
      const bar = `[${'='.repeat(Math.max(0, fill - 1))}${fill > 0 ? '>' : ''}${' '.repeat(width - fill)}]`;
      const line = `${p.label} ${bar} ${p.done}/${p.total}  ${extra}${rate}${eta}`;
      const cols = this.stream.columns ?? 120;
      this.stream.write(`\r${line.slice(0, cols - 1).padEnd(Math.min(cols - 1, line.length))}\x1b[K`);
      this.drawn = true;
      return;
    }
    const now = Date.now() / 1000;
    if (!force && now - this.lastPlain < this.plainEverySeconds) return;
    this.lastPlain = now;
    this.stream.write(`${p.label} ${p.done}/${p.total} (${(pct * 100).toFixed(0)}%)  ${extra}${rate}${eta}\n`);
  }

  /** Print a line of its own (finishing the bar first on a terminal). */
  log(line: string): void {
    if (this.drawn) this.stream.write('\n');
    this.drawn = false;
    this.stream.write(`${line}\n`);
  }

  done(): void {
    if (this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}
