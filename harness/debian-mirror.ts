// The Debian mirror the lab uses for debootstrap, apt downloads and the engine install: the one the
// user set (BUILDX_LAB_DEBIAN_MIRROR), else the one the host's apt already uses, else deb.debian.org.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { LabConfig } from './config.ts';

export const DEFAULT_DEBIAN_MIRROR = 'http://deb.debian.org/debian';

/** First non-security archive URI in deb822 (.sources) or one-line (sources.list) apt sources; pure. */
export function mirrorFromSources(texts: readonly string[]): string | undefined {
  for (const re of [/^URIs:\s*(\S+)/gm, /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)/gm]) {
    for (const text of texts) {
      for (const m of text.matchAll(re)) if (!m[1]!.includes('security')) return m[1];
    }
  }
  return undefined;
}

function readSources(): string[] {
  const dir = '/etc/apt/sources.list.d';
  const files = ['/etc/apt/sources.list'];
  try {
    files.push(
      ...readdirSync(dir)
        .filter((f) => f.endsWith('.sources') || f.endsWith('.list'))
        .map((f) => path.join(dir, f)),
    );
  } catch {
    /* no apt here */
  }
  return files.flatMap((f) => {
    try {
      return [readFileSync(f, 'utf8')];
    } catch {
      return [];
    }
  });
}

export function debianMirror(config: Pick<LabConfig, 'debianMirror'>): string {
  return config.debianMirror || mirrorFromSources(readSources()) || DEFAULT_DEBIAN_MIRROR;
}
