// Finds `var` uses that Espruino resolves differently from JavaScript. Espruino does not
// hoist: a `var x` declares x in its function only when the statement runs. So in
//
//   function f(c) { if (c) { for (var p = 0; ...) ... } else for (p = 0; ...) ... }
//
// the else branch (its `var` never ran) assigns an outer p - in the bundle, some module-level
// binding terser also named p. JavaScript hoists the var and the program is correct there,
// so neither Node nor the vm harness can see the difference; the static rule below can.
//
// A reference to a var of function F, in F's own code (not inside a nested function), is
// covered when a declaration of that var starts at or before it and it lies inside the
// declaration's container: the block, switch case, if/loop statement or function body the
// `var` statement sits in directly (for a `for (var ...;;)` / `for (var ... in)` head, the
// container of the loop itself, since the head always runs). Anything else is reported.
import { Parser } from 'acorn';
import * as walk from 'acorn-walk';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Node = any;

export interface BranchVarFinding {
  /** Name of the enclosing function (minified in a bundle), or '<anonymous>' / '<program>'. */
  fn: string;
  name: string;
  line: number;
  column: number;
  /** Source around the reference. */
  excerpt: string;
}

const isFn = (n: Node) => n.type === 'FunctionDeclaration' || n.type === 'FunctionExpression' || n.type === 'ArrowFunctionExpression';

/** Names a function (or catch clause) scope binds itself, apart from its vars. */
function ownNames(scope: Node): Set<string> {
  const s = new Set<string>();
  if (scope.type === 'CatchClause') {
    if (scope.param) s.add(scope.param.name);
    return s;
  }
  for (const p of scope.params ?? []) if (p.type === 'Identifier') s.add(p.name);
  if (scope.type === 'FunctionExpression' && scope.id) s.add(scope.id.name);
  s.add('arguments');
  return s;
}

/** Whether `id` (with its ancestors) is a reference, not a property name or a label. */
function isReference(id: Node, parent: Node): boolean {
  if (parent.type === 'MemberExpression' && parent.property === id && !parent.computed) return false;
  if (parent.type === 'Property' && parent.key === id && !parent.computed && parent.value !== id) return false;
  if (parent.type === 'LabeledStatement' || parent.type === 'BreakStatement' || parent.type === 'ContinueStatement') return false;
  if ((parent.type === 'FunctionDeclaration' || parent.type === 'FunctionExpression') && parent.id === id) return false;
  return true;
}

export function branchScopedVars(code: string): BranchVarFinding[] {
  const ast = Parser.parse(code, { ecmaVersion: 'latest', sourceType: 'script', locations: true, allowReserved: true });
  // Per function (or Program): var declarations with their containers; function declarations.
  const vars = new Map<Node, Map<string, { start: number; container: Node }[]>>();
  const fnDecls = new Map<Node, Set<string>>();
  const scopeOf = (anc: Node[]) => {
    for (let i = anc.length - 1; i >= 0; i--) if (isFn(anc[i]) || anc[i].type === 'Program') return anc[i];
    return anc[0];
  };
  const containerOf = (decl: Node, anc: Node[]): Node => {
    // anc ends with decl; its parent decides.
    let i = anc.length - 2;
    let child = decl;
    while (i >= 0) {
      const p = anc[i];
      const inHead = (p.type === 'ForStatement' && p.init === child) || ((p.type === 'ForInStatement' || p.type === 'ForOfStatement') && p.left === child);
      if (!inHead) return p;
      child = p;
      i--;
    }
    return anc[0];
  };
  walk.fullAncestor(ast, (node: Node, _st: unknown, anc: Node[]) => {
    if (node.type === 'VariableDeclaration' && node.kind === 'var') {
      const fn = scopeOf(anc.slice(0, -1));
      const m = vars.get(fn) ?? vars.set(fn, new Map()).get(fn)!;
      const container = containerOf(node, anc);
      for (const d of node.declarations) {
        if (d.id.type !== 'Identifier') continue;
        (m.get(d.id.name) ?? m.set(d.id.name, []).get(d.id.name)!).push({ start: node.start, container });
      }
    }
    if (node.type === 'FunctionDeclaration' && node.id) {
      const fn = scopeOf(anc.slice(0, -1));
      (fnDecls.get(fn) ?? fnDecls.set(fn, new Set()).get(fn)!).add(node.id.name);
    }
  });
  const out: BranchVarFinding[] = [];
  const seen = new Set<string>();
  walk.fullAncestor(ast, (node: Node, _st: unknown, anc: Node[]) => {
    if (node.type !== 'Identifier' || anc.length < 2 || !isReference(node, anc[anc.length - 2])) return;
    // Resolve: innermost function / catch scope that binds the name.
    let owner: Node = undefined;
    let ownCode = true;
    for (let i = anc.length - 2; i >= 0; i--) {
      const a = anc[i];
      if (a.type === 'CatchClause' && ownNames(a).has(node.name)) return;
      if (isFn(a) || a.type === 'Program') {
        if (ownNames(a).has(node.name) && a.type !== 'Program') return;
        if (fnDecls.get(a)?.has(node.name)) return;
        if (vars.get(a)?.has(node.name)) {
          owner = a;
          break;
        }
        ownCode = false; // the reference sits in a function nested inside the owner
      }
    }
    if (!owner || !ownCode) return;
    const decls = vars.get(owner)!.get(node.name)!;
    const covered = decls.some((d) => d.start <= node.start && node.start >= d.container.start && node.end <= d.container.end);
    if (covered) return;
    const fnName = owner.type === 'Program' ? '<program>' : owner.id ? owner.id.name : '<anonymous>';
    const key = owner.start + ':' + node.name;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({
      fn: fnName, name: node.name, line: node.loc.start.line, column: node.loc.start.column + 1,
      excerpt: code.slice(Math.max(0, node.start - 40), node.end + 30).replace(/\s+/g, ' '),
    });
  });
  return out;
}
