"""The result schema as docs/hdf5-schema.md documents it, read from that document.

tests/test_schema_doc.c checks that the document's dataset tables list exactly the datasets of
the schema table in runner/schema.c, with the same "type [shape]" cells, so reading the
document follows the C side without a second hand-written list in Python.

    s = Schema.load()                 # finds docs/hdf5-schema.md (source tree or installed)
    s.lookup("/attention/stats/cls")  # SchemaRow(pattern, type, dims=('N', 'L', 'H'), ...)
    dim_names("/attention/stats/cls", ("N", "L", "H"))  -> ("example", "layer", "head")

Datasets the document does not know (a newer writer, or no document found) get their dims from
their shape (AttrunResult.describe does that).
"""
import os
import re

DOC_ENV = "ATTRUN_SCHEMA_DOC"


def _candidates():
    here = os.path.dirname(os.path.abspath(__file__))
    if os.environ.get(DOC_ENV):
        yield os.environ[DOC_ENV]
    yield os.path.join(here, "..", "..", "docs", "hdf5-schema.md")          # source tree: scripts/analysis
    yield os.path.join(here, "..", "..", "doc", "attrun", "hdf5-schema.md")  # installed: share/attrun/analysis
    yield os.path.join(here, "hdf5-schema.md")


class SchemaRow:
    def __init__(self, path, type_, shapes, doc):
        self.path = path                # as documented, e.g. /attributions/<method>/token_sum
        self.type = type_               # e.g. float32, "float32 or float16", "vlen UTF-8"
        self.shapes = shapes            # alternatives, e.g. [("N",), ("N", "K")]
        self.doc = doc
        # <method>, <name>: one path component
        self.regex = re.compile("^" + "[^/]+".join(re.escape(p) for p in re.split(r"<[a-z_]+>", path)) + "$")

    def dims_for(self, ndim):
        """The documented dims of the alternative with ndim dimensions (None: none fits)."""
        for s in self.shapes:
            if len(s) == ndim:
                return s
        return None

    def __repr__(self):
        return f"SchemaRow({self.path!r}, {self.type!r}, {self.shapes!r})"


_ROW = re.compile(r"^\| `(/[^`]+)` \| ([^|]*)\|(.*)\|\s*$")


def _parse_shapes(cell):
    """'float32 [N] or [N, K]' -> ('float32', [('N',), ('N', 'K')]); '[Σ L·H·T·T]' -> ('ragged',)."""
    shapes = []
    for inner in re.findall(r"\[([^\]]*)\]", cell):
        parts = tuple(p.strip() for p in inner.split(","))
        shapes.append(("ragged",) if any("Σ" in p for p in parts) else parts)
    type_ = cell.split("[")[0].strip().rstrip(",").strip()
    return type_, shapes


class Schema:
    def __init__(self, rows, source=None):
        self.rows = rows
        self.source = source

    @classmethod
    def parse(cls, text, source=None):
        rows = []
        for line in text.splitlines():
            m = _ROW.match(line)
            if m:
                type_, shapes = _parse_shapes(m.group(2))
                rows.append(SchemaRow(m.group(1), type_, shapes, m.group(3).strip()))
        return cls(rows, source)

    @classmethod
    def load(cls, path=None):
        """The schema from `path`, else the first document found (ATTRUN_SCHEMA_DOC, the source
        tree, the installed docs); an empty schema when there is none."""
        for p in ([path] if path else _candidates()):
            if p and os.path.isfile(p):
                with open(p, encoding="utf-8") as f:
                    return cls.parse(f.read(), os.path.realpath(p))
        if path:
            raise FileNotFoundError(f"schema document {path} not found")
        return cls([], None)

    def lookup(self, path):
        """The row documenting dataset `path` (exact rows first, then the <placeholder> ones)."""
        exact = [r for r in self.rows if r.path == path]
        if exact:
            return exact[0]
        for r in self.rows:
            if "<" in r.path and r.regex.match(path):
                return r
        return None


# Dimension symbols of the document -> dimension names of the loaded arrays.
SYMBOLS = {"N": "example", "M": "token", "L": "layer", "H": "head", "D": "hidden", "C": "class",
           "S": "skipped", "N+1": "offset"}


def dim_names(path, symbols):
    """Named dims of dataset `path` from its documented symbols (numbers and the K's are named
    by what the path holds)."""
    leaf = path.rsplit("/", 1)[-1]
    out = []
    for i, s in enumerate(symbols):
        if s in SYMBOLS:
            out.append(SYMBOLS[s])
        elif s == "K":
            if "categor" in path:
                out.append("category")
            elif "candidate" in leaf:
                out.append("candidate")
            else:
                out.append("sample")   # /attributions/<method>/delta: per sample or baseline
        elif s == "2" and leaf == "char_span":
            out.append("bound")        # start, end
        elif s == "3" and path.startswith("/faithfulness/"):
            out.append("k_percent")
        elif s in ("3", "5"):
            out.append("rank")         # top-k lists, largest first
        else:
            out.append(f"dim_{i}")
    return tuple(out)
