// Markup for the HTML report, built only with the `html` tag: it escapes every interpolated value,
// numbers included, unless the value is markup that `html` itself built. Everything the report shows
// comes from command output, registries and other machines' files, so no other way to make markup exists.
import { escapeMarkup, unshownChars } from '../text.ts';

// Controls HTML cannot carry, C1 controls and the bidi controls that would reorder evidence on screen
// are shown as \uXXXX; tab and line breaks stay (evidence is shown in <pre>).
const CONTROL = unshownChars('\t\n\r');

export function escapeHtml(text: string): string {
  return escapeMarkup(text, CONTROL, '&#39;');
}

/** Markup built by `html`: the only kind of value `html` inserts as it is. */
export class SafeHtml {
  constructor(readonly markup: string) {}
  toString(): string {
    return this.markup;
  }
}

export type Part = SafeHtml | string | number | false | null | undefined | readonly Part[];

function render(part: Part): string {
  if (part instanceof SafeHtml) return part.markup;
  if (Array.isArray(part)) return part.map(render).join('');
  if (part === false || part === null || part === undefined) return '';
  return escapeHtml(String(part));
}

/** Builds markup from a template: every interpolation is escaped for text and quoted attributes. */
export function html(strings: TemplateStringsArray, ...parts: Part[]): SafeHtml {
  let out = strings[0]!;
  for (const [i, p] of parts.entries()) out += render(p) + strings[i + 1]!;
  return new SafeHtml(out);
}
