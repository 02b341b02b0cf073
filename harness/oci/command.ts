// `buildx-lab verify`: what a registry really holds under a tag, read with the lab's own client.
import { Command } from 'commander';
import { UsageError } from '../errors.ts';
import { RegistryClient } from './client.ts';
import { parseImageRef } from './reference.ts';
import { describeReport, verifyImage } from './verify.ts';
import { writeConsole } from '../progress.ts';

export function verifyCommand(): Command {
  return new Command('verify')
    .summary('check a pushed image in a registry: every platform, manifest and blob')
    .argument('<ref>', 'REGISTRY/REPO:TAG, e.g. 127.0.0.1:5000/app:v1 (plain HTTP)')
    .requiredOption('--platforms <list>', 'expected platforms, e.g. linux/amd64,linux/arm64', (v: string) =>
      v
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    )
    .action(async (refText: string, values: { platforms: string[] }) => {
      if (!values.platforms.length) throw new UsageError('--platforms needs at least one platform');
      const ref = parseImageRef(refText);
      const report = await verifyImage(new RegistryClient({ baseUrl: `http://${ref.registry}` }), ref.repository, ref.reference, { platforms: values.platforms });
      writeConsole(process.stdout, describeReport(report) + '\n');
      process.exitCode = report.ok ? 0 : 1;
    });
}
