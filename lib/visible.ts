// Text a person reads to decide something (a confirm question, a review in the console) with
// every character that renders as nothing, or moves other text, written as a visible escape:
// controls, format characters (bidi overrides, zero-width, tag characters), line and paragraph
// separators, every other default-ignorable code point (variation selectors, which can carry
// bytes no reader sees; Hangul fillers, letters that draw nothing) and the blank braille pattern.
// What is shown is then what is there, character for character.

const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}\u2800]/gu;

/**
 * `text` with each invisible character as `\uXXXX` (`\u{XXXXX}` past the BMP). Characters in
 * `keep` (e.g. "\n\t" for a <pre>) stay as they are. Default: none kept.
 */
export function visibleText(text: string, keep = ''): string {
  return text.replace(INVISIBLE, (c) => {
    if (keep.includes(c)) return c;
    const code = c.codePointAt(0)!;
    return code > 0xffff ? `\\u{${code.toString(16)}}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
