// The maintained half of the redactor: secretlint's recommended rule preset (GitHub, GitLab, npm, AWS,
// Slack, Stripe, SendGrid, Shopify, OpenAI, Anthropic, Hugging Face, Vault, Docker PATs, Cloudflare,
// private keys, ... about 27 scanners kept up to date upstream).
//
// Why the rules and not @secretlint/core's lintSource: lintSource is async, and redaction must be
// synchronous (the progress sink and the report renderers are). The rules themselves speak the
// documented plugin contract of @secretlint/types (`create(context) -> { file(source) }`) and scan text
// synchronously, so this module is a small synchronous host for that contract. Differences from the
// linter, each on purpose:
// - filter-comments (secretlint-disable comments) never runs, and `ignore()` is a no-op: text under
//   redaction is untrusted, and a `secretlint-disable` line in Buildx output must not switch it off.
// - basicauth and database-connection-string are off: they mask a whole URL including its host, and
//   skip placeholder-looking passwords; the hand rule for URL credentials masks only the credential,
//   for every scheme, whatever it looks like.
// - A linter may report an approximate range (the AWS secret-key rule reports the key name's offset
//   with the value's length); a redactor may not, so the secret strings named in the report's data are
//   masked where they occur near the range too.
import { creator as recommended } from '@secretlint/secretlint-rule-preset-recommend';
import type {
  SecretLintRuleContext,
  SecretLintRuleCreator,
  SecretLintRuleLocalizeMessages,
  SecretLintRuleMessageTranslate,
  SecretLintRuleReportHandler,
  SecretLintSourceCode,
} from '@secretlint/types';
import { lastAtOrBefore, type Span } from './spans.ts';

const DISABLED = new Set(['@secretlint/secretlint-rule-filter-comments', '@secretlint/secretlint-rule-basicauth', '@secretlint/secretlint-rule-database-connection-string']);

/** Keys of a report's data that hold the secret itself (the rest name files or token types). */
const SECRET_DATA_KEYS = ['TOKEN', 'KEY', 'ID', 'CREDENTIAL', 'URI', 'URL'];

let sink: Span[] | undefined;
let content = '';

function report(range: readonly [number, number], data: unknown): void {
  if (!sink) return;
  const [start, end] = range;
  sink.push({ start, end });
  if (!data || typeof data !== 'object') return;
  // the secret named in the report, searched for a little before and after the reported range
  for (const key of SECRET_DATA_KEYS) {
    const value = (data as Record<string, unknown>)[key];
    if (typeof value !== 'string' || value.length < 4) continue;
    const from = Math.max(0, start - value.length);
    const to = Math.min(content.length, end + value.length + 256);
    for (let i = content.indexOf(value, from); i !== -1 && i < to; i = content.indexOf(value, i + value.length)) {
      sink.push({ start: i, end: i + value.length });
    }
  }
}

const context: SecretLintRuleContext = {
  sharedOptions: {},
  createTranslator<T extends SecretLintRuleLocalizeMessages>(_messages: T): SecretLintRuleMessageTranslate<T> {
    return ((messageId: keyof T, props?: Record<string, unknown>) => ({
      // the message text is never shown; only the data (the secret) matters here
      message: String(messageId),
      messageId: String(messageId),
      data: props,
    })) as unknown as SecretLintRuleMessageTranslate<T>;
  },
  report: (d) => report(d.range, d.message.data),
  ignore: () => undefined,
};

/** Rule options beyond the preset's defaults: AWS access key ids are a lint warning only on request, but a redactor wants them. */
const OPTIONS: Record<string, object> = { '@secretlint/secretlint-rule-aws': { enableIDScanRule: true } };

/** The preset's text scanners, created once: creating ~27 rules per string would dominate short lines. */
function scanners(): { id: string; handler: SecretLintRuleReportHandler }[] {
  const rules: SecretLintRuleCreator<unknown>[] = [];
  recommended.create({ sharedOptions: {}, registerRule: (rule) => void rules.push(rule as SecretLintRuleCreator<unknown>) }, {});
  return rules
    .filter((r) => r.meta.type === 'scanner' && !DISABLED.has(r.meta.id))
    .filter((r) => r.meta.supportedContentTypes.some((t) => t === 'text' || t === 'all'))
    .map((r) => ({ id: r.meta.id, handler: r.create(context, OPTIONS[r.meta.id] ?? {}) }));
}

let SCANNERS: ReturnType<typeof scanners> | undefined;
function loadedScanners(): ReturnType<typeof scanners> {
  SCANNERS ??= scanners();
  return SCANNERS;
}

/** Ids of the secretlint rules this host runs (for the tests and the report). */
export function secretlintRuleIds(): string[] {
  return loadedScanners().map((s) => s.id);
}

class TextSource implements SecretLintSourceCode {
  readonly hasBOM = false;
  readonly filePath = undefined;
  readonly physicalFilePath = undefined;
  readonly contentType = 'text' as const;
  readonly ext = '';
  #lineStarts: number[] | undefined;
  constructor(readonly content: string) {}
  getFilePath(): undefined {
    return undefined;
  }
  getPhysicalFilePath(): undefined {
    return undefined;
  }
  #starts(): number[] {
    if (!this.#lineStarts) {
      this.#lineStarts = [0];
      for (let i = this.content.indexOf('\n'); i !== -1; i = this.content.indexOf('\n', i + 1)) this.#lineStarts.push(i + 1);
    }
    return this.#lineStarts;
  }
  indexToPosition(index: number): { line: number; column: number } {
    const starts = this.#starts();
    const line = lastAtOrBefore(starts, index);
    return { line: line + 1, column: index - starts[line]! };
  }
  positionToIndex(pos: { line: number; column: number }): number {
    return (this.#starts()[pos.line - 1] ?? this.content.length) + pos.column;
  }
  rangeToLocation(range: readonly [number, number]): { start: { line: number; column: number }; end: { line: number; column: number } } {
    return { start: this.indexToPosition(range[0]), end: this.indexToPosition(range[1]) };
  }
  locationToRange(loc: { start: { line: number; column: number }; end: { line: number; column: number } }): [number, number] {
    return [this.positionToIndex(loc.start), this.positionToIndex(loc.end)];
  }
}

/** Spans of `text` that secretlint's recommended rules report as secrets. */
export function secretlintSpans(text: string): Span[] {
  const spans: Span[] = [];
  const source = new TextSource(text);
  sink = spans;
  content = text;
  try {
    for (const { id, handler } of loadedScanners()) {
      const pending = handler.file?.(source);
      // An async scanner would report after we return, unmasked: refuse it rather than leak (the
      // unit tests check every scanner of the installed preset is synchronous on text).
      if (pending && typeof (pending as Promise<void>).then === 'function') {
        void (pending as Promise<void>).catch(() => undefined);
        throw new Error(`secretlint rule ${id} scanned asynchronously; the lab's redactor needs synchronous rules`);
      }
    }
  } finally {
    sink = undefined;
    content = '';
  }
  return spans;
}
