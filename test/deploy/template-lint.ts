// What can be checked in a Helm template without helm: its {{ }} actions (balanced, blocks
// closed), the .Values paths it reads, and the YAML key paths of its text (actions replaced
// by a placeholder), to compare with a plain manifest that real tools validated.
import { parse } from 'yaml';

export interface Action {
  line: number;
  /** The action's text without delimiters, trim markers and surrounding space. */
  text: string;
  comment: boolean;
}

const lineAt = (src: string, index: number) => src.slice(0, index).split('\n').length;

/** The actions of a template, plus delimiter errors ("file:line: ..."). */
export function actionsOf(file: string, src: string): { actions: Action[]; errors: string[] } {
  const actions: Action[] = [];
  const errors: string[] = [];
  let at = 0;
  for (;;) {
    const open = src.indexOf('{{', at);
    const stray = src.indexOf('}}', at);
    if (stray >= 0 && (open < 0 || stray < open)) errors.push(`${file}:${lineAt(src, stray)}: "}}" without "{{"`);
    if (open < 0) break;
    const close = src.indexOf('}}', open + 2);
    if (close < 0) {
      errors.push(`${file}:${lineAt(src, open)}: "{{" never closed`);
      break;
    }
    const raw = src.slice(open + 2, close);
    const nested = raw.indexOf('{{');
    if (nested >= 0) errors.push(`${file}:${lineAt(src, open + 2 + nested)}: "{{" inside an action`);
    const text = raw.replace(/^-\s/, '').replace(/\s-$/, '').trim();
    const comment = text.startsWith('/*');
    if (comment && !text.endsWith('*/')) errors.push(`${file}:${lineAt(src, open)}: comment not closed by "*/}}"`);
    if (!comment && (/^-\S/.test(raw) || /\S-$/.test(raw))) errors.push(`${file}:${lineAt(src, open)}: trim marker needs a space: {{${raw}}}`);
    actions.push({ line: lineAt(src, open), text, comment });
    at = close + 2;
  }
  return { actions, errors };
}

const OPENERS = ['if', 'range', 'with', 'define', 'block'];
const keywordOf = (a: Action) => (a.comment ? undefined : /^([a-z]+)\b/.exec(a.text)?.[1]);

/** Block errors: every if/range/with/define/block has its end, else sits in if/with/range, define only at top level. */
export function blockErrors(file: string, actions: Action[]): string[] {
  const errors: string[] = [];
  const stack: Action[] = [];
  for (const a of actions) {
    const keyword = keywordOf(a);
    if (keyword === undefined) continue;
    if (OPENERS.includes(keyword)) {
      if (keyword === 'define' && stack.length > 0) errors.push(`${file}:${a.line}: define inside a block`);
      stack.push(a);
    } else if (keyword === 'else') {
      const top = stack.at(-1);
      if (!top || !['if', 'with', 'range'].includes(keywordOf(top)!)) errors.push(`${file}:${a.line}: else outside if/with/range`);
    } else if (keyword === 'end') {
      if (!stack.pop()) errors.push(`${file}:${a.line}: end without a block`);
    }
  }
  for (const a of stack) errors.push(`${file}:${a.line}: "${a.text}" never ended`);
  return errors;
}

/** Every `.Values.a.b` (or `$.Values.a.b`) path the actions read, with its line. */
export function valuesPaths(actions: Action[]): Array<{ line: number; path: string[] }> {
  return actions.filter((a) => !a.comment).flatMap((a) =>
    [...a.text.matchAll(/(?:^|[\s(])\$?\.Values((?:\.[A-Za-z_]\w*)+)/g)].map((m) => ({ line: a.line, path: m[1]!.slice(1).split('.') })));
}

/**
 * The fields read from the dot (`.name`, `.upstream`) inside `range <over>` blocks, where the
 * dot is one element; `with`, other ranges and define change the dot and are not followed.
 */
export function fieldsReadInRange(actions: Action[], over: string): Set<string> {
  const fields = new Set<string>();
  const stack: boolean[] = [];
  for (const a of actions) {
    const keyword = keywordOf(a);
    const inside = stack.at(-1) ?? false;
    if (keyword === 'range' || keyword === 'with' || keyword === 'define' || keyword === 'block') {
      if (keyword === 'range' && a.text === `range ${over}`) stack.push(true);
      else {
        if (inside) for (const m of a.text.matchAll(/(?:^|[\s(|])\.([A-Za-z_]\w*)/g)) fields.add(m[1]!); // the range/with argument
        stack.push(false);
      }
      continue;
    }
    if (keyword === 'if') stack.push(inside);
    if (keyword === 'end') { stack.pop(); continue; }
    if (inside && !a.comment) for (const m of a.text.matchAll(/(?:^|[\s(|])\.([A-Za-z_]\w*)/g)) fields.add(m[1]!);
  }
  return fields;
}

/** The names of the templates a file defines, and those it includes. */
export const definedTemplates = (actions: Action[]) => actions.flatMap((a) => [...a.text.matchAll(/^(?:define|block)\s+"([^"]+)"/g)].map((m) => m[1]!));
export const includedTemplates = (actions: Action[]) => actions.flatMap((a) => [...a.text.matchAll(/\b(?:include|template)\s+"([^"]+)"/g)].map((m) => m[1]!));

type Json = any;

/** Dotted key paths of a parsed YAML document (array elements share their array's path). */
export function keyPathsOfDocument(doc: Json, prefix = '', into = new Set<string>()): Set<string> {
  if (Array.isArray(doc)) for (const item of doc) keyPathsOfDocument(item, prefix, into);
  else if (doc !== null && typeof doc === 'object') {
    for (const [k, v] of Object.entries(doc)) {
      const p = prefix ? `${prefix}.${k}` : k;
      into.add(p);
      keyPathsOfDocument(v, p, into);
    }
  }
  return into;
}

/**
 * Dotted key paths of a YAML template's text, read by indentation, with every action replaced
 * by a placeholder scalar. Block styles and one-line flow collections are understood; block
 * scalars (`|`, `>`) are skipped.
 */
export function keyPathsOfTemplate(src: string): Set<string> {
  const paths = new Set<string>();
  const stack: Array<{ indent: number; key: string }> = [];
  let scalarIndent = -1; // inside a block scalar while lines are indented deeper than this
  const text = src.replace(/\{\{[\s\S]*?\}\}/g, (action) => `X${'\n'.repeat(action.split('\n').length - 1)}`);
  for (const line of text.split('\n')) {
    if (/^\s*(#.*)?$/.test(line)) continue;
    const lineIndent = /^ */.exec(line)![0].length;
    if (scalarIndent >= 0 && lineIndent > scalarIndent) continue;
    scalarIndent = -1;
    if (/^\s*X\s*$/.test(line)) continue; // an action alone on its line
    let indent = lineIndent;
    let content = line.slice(indent);
    if (content.startsWith('- ')) {
      indent += 2;
      content = content.slice(2);
    }
    if (/^[|>][-+]?$/.test(content)) { scalarIndent = lineIndent; continue; } // "- |"
    while (stack.length > 0 && stack.at(-1)!.indent >= indent) stack.pop();
    const parent = stack.map((s) => s.key).join('.');
    const join = (k: string) => (parent ? `${parent}.${k}` : k);
    if (content.startsWith('{')) {
      for (const p of keyPathsOfDocument(parse(content))) paths.add(join(p));
      continue;
    }
    const m = /^("[^"]+"|'[^']+'|[^\s:"'{[][^:]*?):(?:\s+(.*))?$/.exec(content);
    if (!m) continue; // a scalar item of a sequence
    const key = m[1]!.replace(/^["']|["']$/g, '');
    const value = (m[2] ?? '').replace(/\s+#.*$/, '');
    paths.add(join(key));
    if (value.startsWith('{')) for (const p of keyPathsOfDocument(parse(value))) paths.add(join(`${key}.${p}`));
    if (/^[|>][-+]?$/.test(value)) scalarIndent = lineIndent;
    stack.push({ indent, key });
  }
  return paths;
}
