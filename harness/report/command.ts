// `buildx-lab merge-reports`: sharded runs' results.json into one report (each shard validated on read).
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Command } from 'commander';
import { mergeReports } from './json.ts';
import { buildMatrix, hasFailures, totalsLine } from './matrix.ts';
import { renderTerminalTable } from './terminal.ts';
import { readJsonReport, writeReports } from './write.ts';

export function mergeReportsCommand(): Command {
  return new Command('merge-reports')
    .summary("combine sharded runs' reports into one")
    .argument('<dir...>', 'report directories of the shards (each holding results.json)')
    .requiredOption('--out <dir>', 'where the merged reports go')
    .action(async (dirs: string[], values: { out: string }) => {
      const reports = await Promise.all(dirs.map((d) => readJsonReport(path.join(d, 'results.json'))));
      const merged = mergeReports(reports);
      await mkdir(values.out, { recursive: true });
      const paths = await writeReports(values.out, merged.results, merged.meta);
      const m = buildMatrix(merged.results);
      process.stdout.write(`${renderTerminalTable(m, { color: false })}\n${totalsLine(m)}\nmerged into ${paths.html}\n`);
      process.exitCode = hasFailures(merged.results) ? 1 : 0;
    });
}
