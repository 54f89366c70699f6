"""A layered drawing of a directed acyclic graph (Sugiyama's method).

Nodes are boxes of given sizes; an edge runs from a node down to one of its
inputs, so the result is at the top and the leaves at the bottom. Pure
Python and the standard library only: `gradcli graph --out` draws without
Graphviz. The steps, each a function below:

1. Layers (`_heights`): a node sits one layer above the highest of its
   inputs (the longest path down from it), so every leaf is on the bottom
   layer; a node in `hanging` (a constant) hangs instead just under the
   lowest node that uses it, where it is read.
2. Dummies: an edge that spans several layers becomes a chain of dummy
   points, one per layer it crosses, so that every edge joins adjacent
   layers and is routed between the boxes, never through one. Edges to
   one input share their dummies (Graphviz's "concentrate"): they join
   into one line down to it, so a value used at every level of a long
   chain costs one dummy per layer, not one per use and layer.
3. Order (`_order`): a depth-first start, then barycentre sweeps (each item
   moves to the mean position of its neighbours in the layer before), down
   and up, keeping the order with the fewest crossings.
4. Across (`_place`, after Brandes and Köpf): items are aligned into
   vertical blocks, each under the median of its neighbours in the layer
   above (a dummy under a dummy first, so long edges run straight; a
   constant joins no block), blocks are packed as far left as the gaps
   allow, and that is done four ways (aligned to the layer above or
   below, packed to the left or right); each item then takes the mean of
   its two middle x's of the four.
5. Down: each layer is a row as tall as its tallest box.

Shared nodes are drawn once, with an edge per use (x*x: two edges to x).
Each sweep takes time about linear in the nodes and dummies, which are at
most layers times inputs reached by long edges; callers cap the number of
nodes (`--max-nodes`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

GAP_X = 28.0            # between two boxes of a layer
GAP_DUMMY = 12.0        # between an edge passing through a layer and its neighbours
GAP_Y = 44.0            # between two layers
MARGIN = 16.0
PORT_STEP = 12.0        # between two edges leaving (or entering) one side of a box
SWEEPS = 8              # barycentre sweeps (down, up, ...)


class Dummy:
    """Where the edges to `target` cross layer `k`."""

    __slots__ = ("target", "k")

    def __init__(self, target, k: int):
        self.target, self.k = target, k

    def __repr__(self) -> str:
        return f"Dummy({self.target!r}, {self.k})"


@dataclass
class Edge:
    source: object
    target: object
    path: list                  # source, its dummies top to bottom, target
    # (x, y): from the source's bottom through the layers to the target's
    # top; or, when `joins`, to where it meets an earlier edge to the same
    # target, which goes on from there (they share their dummies).
    points: list
    joins: bool = False


@dataclass
class Layout:
    width: float
    height: float
    boxes: dict                 # node: (x, y, w, h), the top left corner and the size
    layer: dict                 # node: its layer, 0 at the top
    rows: list                  # per layer, its nodes and dummies left to right
    edges: list = field(default_factory=list)     # Edge per edge, in the order given
    x: dict = field(default_factory=dict)         # node or dummy: the x of its centre


def layered(sizes: dict, edges: list, hanging=frozenset()) -> Layout:
    """Lay out the nodes `sizes` (node: (width, height), in a depth-first
    order from the top: it breaks ties) and `edges` ((node, input) pairs;
    several between one pair are several edges)."""
    inputs: dict = {v: [] for v in sizes}
    users: dict = {v: [] for v in sizes}
    for source, target in edges:
        inputs[source].append(target)
        users[target].append(source)
    # Only an input that some node uses can hang under it.
    hanging = {v for v in hanging if v in sizes and not inputs[v] and users[v]}
    height = _heights(sizes, inputs, users, hanging)
    top = max(height.values(), default=0)
    layer = {v: top - h for v, h in height.items()}

    dummies: dict = {}
    paths = []
    for source, target in edges:
        middle = []
        for k in range(layer[source] + 1, layer[target]):
            if (target, k) not in dummies:
                dummies[target, k] = Dummy(target, k)
            middle.append(dummies[target, k])
        paths.append([source] + middle + [target])
    down: dict = {}
    up: dict = {}
    for a, b in dict.fromkeys((a, b) for path in paths for a, b in zip(path, path[1:])):
        down.setdefault(a, []).append(b)
        up.setdefault(b, []).append(a)
    item_layer = dict(layer)
    item_layer.update((dummy, dummy.k) for dummy in dummies.values())
    rows: list = [[] for _ in range(top + 1)]
    for item in _depth_first(sizes, down, users):
        rows[item_layer[item]].append(item)
    rows = _order(rows, up, down)

    width_of = {item: (sizes[item][0] if item in sizes else 0.0) for item in item_layer}
    x = _place(rows, up, down, width_of, hanging)
    row_heights = [max((sizes[v][1] for v in row if v in sizes), default=0.0) for row in rows]
    row_tops, y = [], MARGIN
    for h in row_heights:
        row_tops.append(y)
        y += h + GAP_Y
    boxes = {v: (x[v] - w / 2, row_tops[layer[v]] + (row_heights[layer[v]] - h) / 2, w, h)
             for v, (w, h) in sizes.items()}
    right = max((x[item] + width_of[item] / 2 for item in x), default=0.0)
    layout = Layout(right + MARGIN, y - GAP_Y + MARGIN if rows else 2 * MARGIN, boxes, layer,
                    rows, [], x)
    layout.edges = _routes(paths, layout, row_tops, row_heights)
    return layout


def _heights(sizes, inputs, users, hanging) -> dict:
    """Each node's layer counted from the bottom (step 1)."""
    height: dict = {}
    for v in reversed(_topological(sizes, inputs, users)):    # inputs before their users
        if v in hanging:
            continue
        below = [height[u] for u in inputs[v] if u not in hanging]
        height[v] = 1 + max(below) if below else (1 if inputs[v] else 0)
    for v in hanging:
        height[v] = min(height[u] for u in users[v]) - 1
    return height


def _topological(sizes, inputs, users) -> list:
    """Nodes each before its inputs (Kahn's method: no recursion)."""
    waiting = {v: len(users[v]) for v in sizes}
    ready = [v for v in sizes if not waiting[v]]
    ready.reverse()
    order = []
    while ready:
        v = ready.pop()
        order.append(v)
        for u in reversed(inputs[v]):
            waiting[u] -= 1
            if not waiting[u]:
                ready.append(u)
    if len(order) != len(sizes):
        raise ValueError("the graph has a cycle")
    return order


def _depth_first(sizes, down, users) -> list:
    """Every node and dummy once, depth first from the top nodes along the
    edges in order: the starting order within each layer."""
    seen, out = set(), []
    stack = [v for v in reversed(list(sizes)) if not users[v]]
    while stack:
        item = stack.pop()
        if item in seen:
            continue
        seen.add(item)
        out.append(item)
        stack.extend(reversed(down.get(item, ())))
    return out


def _order(rows, up, down) -> list:
    """Barycentre sweeps (step 3); the rows with the fewest crossings."""
    best, fewest = [list(row) for row in rows], _crossings(rows, down)
    for sweep in range(SWEEPS):
        if not fewest:
            break
        downwards = sweep % 2 == 0
        neighbours = up if downwards else down
        indices = range(1, len(rows)) if downwards else range(len(rows) - 2, -1, -1)
        for i in indices:
            fixed = rows[i - 1] if downwards else rows[i + 1]
            position = {item: n for n, item in enumerate(fixed)}
            rows[i] = _by_barycentre(rows[i], neighbours, position)
        count = _crossings(rows, down)
        if count < fewest:
            best, fewest = [list(row) for row in rows], count
    return best


def _by_barycentre(row, neighbours, position) -> list:
    keys = {}
    for n, item in enumerate(row):
        near = [position[other] for other in neighbours.get(item, ()) if other in position]
        # An item with no neighbours there keeps its place among the others.
        keys[item] = (sum(near) / len(near) if near else n, n)
    return sorted(row, key=keys.__getitem__)


def _crossings(rows, down) -> int:
    """Edge crossings between adjacent layers, by counting inversions."""
    total = 0
    for upper, lower in zip(rows, rows[1:]):
        position = {item: n for n, item in enumerate(lower)}
        ends = sorted((n, position[b]) for n, a in enumerate(upper) for b in down.get(a, ())
                      if b in position)
        total += _inversions([b for _, b in ends], len(lower))
    return total


def _inversions(values: list, size: int) -> int:
    """Pairs i < j with values[i] > values[j] (a Fenwick tree)."""
    tree = [0] * (size + 1)
    count = 0
    for seen, v in enumerate(values):
        i, not_above = v + 1, 0
        while i > 0:
            not_above += tree[i]
            i -= i & -i
        count += seen - not_above
        i = v + 1
        while i <= size:
            tree[i] += 1
            i += i & -i
    return count


def _place(rows, up, down, width, hanging) -> dict:
    """x of each item's centre (step 4), the leftmost edge at MARGIN."""
    if not any(rows):
        return {}
    mirrored = [row[::-1] for row in rows]
    ways = [(rows, up, False), (mirrored, up, True),
            (rows[::-1], down, False), (mirrored[::-1], down, True)]
    found = []
    for ordered, before, right in ways:
        block = _aligned(ordered, before, hanging)
        x = _packed(ordered, block, width)
        found.append({item: -at for item, at in x.items()} if right else x)
    # Each way shifted to the narrowest's left (packed left) or right edge.
    extents = [(min(x[i] - width[i] / 2 for i in x), max(x[i] + width[i] / 2 for i in x))
               for x in found]
    narrowest = min(extents, key=lambda e: e[1] - e[0])
    for x, (left, right), (_, _, packed_right) in zip(found, extents, ways):
        shift = narrowest[1] - right if packed_right else narrowest[0] - left
        for item in x:
            x[item] += shift
    middle = {}
    for item in found[0]:
        ranked = sorted(x[item] for x in found)
        middle[item] = (ranked[1] + ranked[2]) / 2
    left = min((middle[i] - width[i] / 2 for i in middle), default=0.0)
    return {item: at - left + MARGIN for item, at in middle.items()}


def _aligned(rows, before, hanging) -> dict:
    """Each item's block (the block's first item): rows[0] first, an item
    joins the block of the median of its neighbours in the row before, if
    that one has no other item under it and the blocks keep their order."""
    block = {item: item for row in rows for item in row}
    for upper, row in zip(rows, rows[1:]):
        position = {item: n for n, item in enumerate(upper)}
        taken, last = set(), -1
        for item in row:
            if item in hanging:
                continue
            near = sorted((u for u in before.get(item, ()) if u not in hanging),
                          key=position.__getitem__)
            if isinstance(item, Dummy) and any(isinstance(u, Dummy) for u in near):
                near = [u for u in near if isinstance(u, Dummy)]
            m = len(near)
            for u in near[(m - 1) // 2: m // 2 + 1]:      # the median, or the two middle ones
                if u not in taken and position[u] > last:
                    block[item] = block[u]
                    taken.add(u)
                    last = position[u]
                    break
    return block


def _packed(rows, block, width) -> dict:
    """x of every item with each block as far left as the gaps to its left
    neighbours allow (the blocks in order of those constraints)."""
    after: dict = {}
    waiting: dict = dict.fromkeys(block.values(), 0)
    for row in rows:
        for a, b in zip(row, row[1:]):
            after.setdefault(block[a], []).append((block[b], _gap(a, b, width)))
            waiting[block[b]] += 1
    at = dict.fromkeys(waiting, 0.0)
    ready = [b for b, count in waiting.items() if not count]
    while ready:
        first = ready.pop()
        for other, gap in after.get(first, ()):
            at[other] = max(at[other], at[first] + gap)
            waiting[other] -= 1
            if not waiting[other]:
                ready.append(other)
    return {item: at[block[item]] for item in block}


def _gap(a, b, width) -> float:
    """The least distance between the centres of neighbours a and b."""
    space = GAP_DUMMY if isinstance(a, Dummy) or isinstance(b, Dummy) else GAP_X
    return (width[a] + width[b]) / 2 + space


def _routes(paths, layout, row_tops, row_heights) -> list:
    """Each edge as points: from a port on its source's bottom side, down
    each layer it crosses at its dummy's x, to a port on its target's top;
    an edge that reaches a dummy an earlier edge went on from stops there."""
    x, boxes = layout.x, layout.boxes
    continued = set()       # dummies some edge already went on from
    ends = []               # per edge: how far it is drawn (index into its path)
    for path in paths:
        stop = len(path) - 1
        for n in range(1, len(path) - 1):
            if path[n] in continued:
                stop = n
                break
            continued.add(path[n])
        ends.append(stop)
    leaving: dict = {}      # node: edges leaving its bottom (ports ordered by where they go)
    entering: dict = {}     # node: edges drawn up to its top
    for i, path in enumerate(paths):
        leaving.setdefault(path[0], []).append(i)
        if ends[i] == len(path) - 1:
            entering.setdefault(path[-1], []).append(i)
    start, end = {}, {}
    for node, out in leaving.items():
        out.sort(key=lambda i: (x[paths[i][1]], i))
        start.update(zip(out, _ports(boxes[node], len(out))))
    for node, into in entering.items():
        into.sort(key=lambda i: (x[paths[i][-2]], i))
        end.update(zip(into, _ports(boxes[node], len(into))))
    edges = []
    for i, path in enumerate(paths):
        sx, sy, sw, sh = boxes[path[0]]
        points = [(start[i], sy + sh)]
        for dummy in path[1:ends[i]]:
            top = row_tops[dummy.k]
            points += [(x[dummy], top), (x[dummy], top + row_heights[dummy.k])]
        joins = ends[i] < len(path) - 1
        if joins:
            points.append((x[path[ends[i]]], row_tops[path[ends[i]].k]))
        else:
            points.append((end[i], boxes[path[-1]][1]))
        edges.append(Edge(path[0], path[-1], path, points, joins))
    return edges


def _ports(box, count) -> list:
    """x of `count` edges on one side of `box`, spread about its middle."""
    bx, _, bw, _ = box
    step = min(PORT_STEP, bw * 0.8 / (count - 1)) if count > 1 else 0.0
    middle = bx + bw / 2
    return [middle + (n - (count - 1) / 2) * step for n in range(count)]
