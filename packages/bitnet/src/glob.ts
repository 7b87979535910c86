// Module-name globs for include/exclude lists: `*` matches within one dotted segment,
// `**` across segments, `?` one character. `vit.encoder.layer.*.attention.**` picks every
// attention projection; `classifier` only the head.

export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (c === '*') re += '[^.]*';
    else if (c === '?') re += '[^.]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** True when name matches some include glob (all names when include is empty) and no exclude glob. */
export function selectByName(name: string, include: readonly string[] = [], exclude: readonly string[] = []): boolean {
  const inc = include.length === 0 || include.some((g) => globToRegExp(g).test(name));
  return inc && !exclude.some((g) => globToRegExp(g).test(name));
}
