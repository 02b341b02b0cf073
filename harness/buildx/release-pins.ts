// Pinned sha256 of Buildx release assets, from sources independent of the download server
// (harness/buildx/release-pins.json, written by update-pins.ts). checksums.txt comes from the same
// server as the binary, so it only catches corruption; a pin also catches a substituted binary.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { HarnessError } from '../errors.ts';
import type { BuildxArch } from './arch.ts';
import { normalizeVersion } from './spec.ts';

const SHA256 = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex sha256');
/** "owner/name@<commit>:<path>": where the value was read, so anyone can check it. */
const SOURCE_REF = z.string().regex(/^[\w.-]+\/[\w.-]+@[0-9a-f]{40}:\S+$/, 'owner/name@<commit>:<path>');
const VERSION = z.string().regex(/^v\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?$/, 'a v-prefixed version');
/** The part of an asset name after the version: "linux-amd64", "linux-arm-v7". */
const PLATFORM = z.string().regex(/^linux-[a-z0-9-]+$/, 'linux-<arch>');

const ReleasePinSchema = z.strictObject({ sha256: SHA256, sources: z.array(SOURCE_REF).min(1) });

const DisagreementSchema = z.strictObject({
  version: VERSION,
  platform: PLATFORM,
  /** sha256 -> the sources that gave it */
  values: z.record(SHA256, z.array(SOURCE_REF).min(1)),
});

const ReleasePinsSchema = z.strictObject({
  about: z.string(),
  generatedAt: z.string(),
  sources: z.record(z.string(), z.strictObject({ url: z.url(), head: z.string().regex(/^[0-9a-f]{40}$/), paths: z.array(z.string()) })),
  pins: z.record(VERSION, z.record(PLATFORM, ReleasePinSchema)),
  /** assets whose sources disagree: never pinned, so a download of them is refused */
  disagreements: z.array(DisagreementSchema),
});

export type ReleasePin = z.infer<typeof ReleasePinSchema>;
export type PinDisagreement = z.infer<typeof DisagreementSchema>;
export type ReleasePins = z.infer<typeof ReleasePinsSchema>;

export const PINS_FILE = fileURLToPath(new URL('./release-pins.json', import.meta.url));

export function parsePins(text: string, where = PINS_FILE): ReleasePins {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new HarnessError(`${where} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const parsed = ReleasePinsSchema.safeParse(data);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    // A bad record key reports "Invalid key in record"; the key's own rule says what was expected.
    const detail = first.code === 'invalid_key' ? `${first.message}: ${first.issues[0]?.message ?? ''}` : first.message;
    throw new HarnessError(`${where}: ${first.path.join('.') || '(root)'}: ${detail}`);
  }
  return parsed.data;
}

let loaded: ReleasePins | undefined;

/** The committed pins, read and validated once per process. */
export function loadPins(): ReleasePins {
  if (!loaded) {
    let text: string;
    try {
      text = readFileSync(PINS_FILE, 'utf8');
    } catch (err) {
      throw new HarnessError(`cannot read ${PINS_FILE}: ${(err as Error).message}`, { cause: err });
    }
    loaded = parsePins(text);
  }
  return loaded;
}

export function platformOf(arch: BuildxArch): string {
  return `linux-${arch}`;
}

/** The pin of one release asset; undefined when no independent source pinned it. Pure. */
export function pinFor(pins: ReleasePins, version: string, arch: BuildxArch): ReleasePin | undefined {
  return pins.pins[normalizeVersion(version)]?.[platformOf(arch)];
}

/** Why an asset has no pin, for the refusal message: its sources disagreed, or none has it. Pure. */
export function disagreementFor(pins: ReleasePins, version: string, arch: BuildxArch): PinDisagreement | undefined {
  const v = normalizeVersion(version);
  return pins.disagreements.find((d) => d.version === v && d.platform === platformOf(arch));
}
