// The bisect and qualify commands take run's options plus a few of their own; this pulls their own out
// so the rest goes through run's parser unchanged (same filters, same errors).

/** Removes `--name V` and `--name=V` for each name; returns their values and the remaining args. */
export function takeOptions(args: readonly string[], names: readonly string[]): { taken: Record<string, string | undefined>; rest: string[] } {
  const taken: Record<string, string | undefined> = {};
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const name = names.find((n) => a === `--${n}` || a.startsWith(`--${n}=`));
    if (!name) rest.push(a);
    else if (a.includes('=')) taken[name] = a.slice(a.indexOf('=') + 1);
    else taken[name] = args[++i];
  }
  return { taken, rest };
}
