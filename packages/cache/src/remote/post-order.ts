/**
 * Depth-first post-order (every node after the nodes it links to) without recursion, so a graph as
 * deep as a long build, or a merged cache of many, never exhausts the call stack. A link back to a
 * node still being visited (a cycle, which corrupt caches can hold) is skipped: the caller finds no
 * value for it yet and drops that link.
 */
export function postOrder<T>(roots: Iterable<T>, children: (node: T) => Iterable<T>): T[] {
  const state = new Map<T, "open" | "done">();
  const order: T[] = [];
  for (const root of roots) {
    if (state.has(root)) continue;
    state.set(root, "open");
    const stack = [{ node: root, next: children(root)[Symbol.iterator]() }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as (typeof stack)[number];
      const step = top.next.next();
      if (step.done) {
        stack.pop();
        state.set(top.node, "done");
        order.push(top.node);
        continue;
      }
      if (state.has(step.value)) continue;
      state.set(step.value, "open");
      stack.push({ node: step.value, next: children(step.value)[Symbol.iterator]() });
    }
  }
  return order;
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
