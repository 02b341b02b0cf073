// Control characters in evidence are shown, not passed on: a terminal obeys escape sequences, and a
// markdown table breaks on a line break. (text.ts's escapeMarkup does the same for HTML and XML.)

/** `text` with each character that `pattern` (a /g regexp) matches written as `\uXXXX`. */
export function showAsEscapes(text: string, pattern: RegExp): string {
  return text.replace(pattern, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
