// Reading the YAML of a stack file (the `yaml` library, YAML 1.2 core schema with `<<` merge keys
// on) into plain values, and finding where a key path is written, for messages. A path through a
// merge key or an alias leads to where the value is written (the anchor's definition).
//
// One departure from YAML 1.2, as Compose's own reader (go-yaml) makes it: an integer written
// with a leading zero is octal (`mode: 0440`), so file modes mean what their authors meant.
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type Pair, type ScalarTag, type YAMLMap } from 'yaml';
import type { StackIssue } from './errors.js';

/** A key path in the file: map keys and list indexes. */
export type KeyPath = readonly (string | number)[];

export interface Position {
  readonly line: number;
  readonly col: number;
}

/** Aliases expanded when the document becomes plain values: a bound on "billion laughs" files. */
const ALIAS_COUNT_MAX = 1_000;

const LEGACY_OCTAL: ScalarTag = {
  tag: 'tag:yaml.org,2002:int',
  default: true,
  identify: (value) => typeof value === 'number',
  test: /^0[0-7]+$/,
  resolve: (text) => Number.parseInt(text, 8),
};

/** `services.web.ports[1]`, with keys that hold dots or spaces quoted: `labels["com.example.x"]`. */
export function formatPath(path: KeyPath): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

function keyOf(pair: Pair): string {
  const key = pair.key;
  if (isScalar(key)) return String(key.value);
  return String(key);
}

function isMergePair(pair: Pair): boolean {
  const key = pair.key;
  return isScalar(key) && (key.value === '<<' || (typeof key.value === 'symbol' && key.value.description === '<<'));
}

export class YamlSource {
  private constructor(
    readonly file: string,
    readonly value: unknown,
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
  ) {}

  /** Parses the text; YAML syntax errors come back as issues (and no source). */
  static parse(text: string, file: string): { source: YamlSource } | { issues: StackIssue[] } {
    const lines = new LineCounter();
    const doc = parseDocument(text, { merge: true, prettyErrors: false, uniqueKeys: true, lineCounter: lines, customTags: (tags) => [LEGACY_OCTAL, ...tags] });
    if (doc.errors.length > 0) {
      return {
        issues: doc.errors.map((error) => {
          const at = error.linePos?.[0] ?? lines.linePos(error.pos[0]);
          // The library's message ends with "at line L, column C" even unprettied: the place goes in front instead.
          const message = error.message.replace(/ at line \d+, column \d+:?[\s\S]*$/, '');
          return { file, ...(at === undefined ? {} : { line: at.line, col: at.col }), path: '', message: `YAML: ${message}` };
        }),
      };
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: ALIAS_COUNT_MAX });
    } catch (error) {
      return { issues: [{ file, path: '', message: `YAML: ${(error as Error).message}` }] };
    }
    return { source: new YamlSource(file, value, doc, lines) };
  }

  private position(node: Node | Pair['key'] | null | undefined): Position | undefined {
    const range = (node as Node | null | undefined)?.range;
    if (range === undefined || range === null) return undefined;
    const at = this.lines.linePos(range[0]);
    return { line: at.line, col: at.col };
  }

  private resolve(node: unknown): unknown {
    let current = node;
    for (let hops = 0; isAlias(current) && hops < ALIAS_COUNT_MAX; hops++) current = current.resolve(this.doc);
    return current;
  }

  /** The pair that gives `key` its value in a map: its own, else the first merged-in map's. */
  private pairOf(map: YAMLMap, key: string, depth = 0): Pair | undefined {
    for (const pair of map.items) if (!isMergePair(pair) && keyOf(pair) === key) return pair;
    if (depth > ALIAS_COUNT_MAX) return undefined;
    for (const pair of map.items) {
      if (!isMergePair(pair)) continue;
      const value = this.resolve(pair.value);
      const sources = isSeq(value) ? value.items.map((item) => this.resolve(item)) : [value];
      for (const source of sources) {
        if (!isMap(source)) continue;
        const found = this.pairOf(source, key, depth + 1);
        if (found !== undefined) return found;
      }
    }
    return undefined;
  }

  /**
   * Where the path is written: a map key's own position, a list item's position. A path that
   * does not exist all the way (a required key left out) gives the deepest part that does.
   */
  locate(path: KeyPath): Position | undefined {
    let node: unknown = this.resolve(this.doc.contents);
    let at = this.position(this.doc.contents as Node | null) ?? { line: 1, col: 1 };
    for (const segment of path) {
      if (isMap(node)) {
        const pair = this.pairOf(node, String(segment));
        if (pair === undefined) return at;
        at = this.position(pair.key as Node) ?? at;
        node = this.resolve(pair.value);
      } else if (isSeq(node) && typeof segment === 'number') {
        const item = node.items[segment];
        if (item === undefined) return at;
        at = this.position(isPair(item) ? (item.key as Node) : (item as Node)) ?? at;
        node = this.resolve(item);
      } else {
        return at;
      }
    }
    return at;
  }

  /** An issue at a key path, placed in the file. */
  issue(path: KeyPath, message: string): StackIssue {
    const at = this.locate(path);
    return { file: this.file, ...(at === undefined ? {} : { line: at.line, col: at.col }), path: formatPath(path), message };
  }
}
