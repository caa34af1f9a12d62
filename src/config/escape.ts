// Text of a config file quoted in an error message or in a YAML comment may hold any character.
// The ones that would end a line there, forge a log line or carry a terminal escape sequence are
// written as \uXXXX; which ones depends on where the text goes, so each caller names them.

/** `s` with every match of `chars` (a global regexp matching single UTF-16 units) as \uXXXX. */
export function escapeChars(s: string, chars: RegExp): string {
  return s.replace(chars, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
