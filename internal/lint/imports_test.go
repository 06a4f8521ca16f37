// Package lint holds tests of the repository as a whole: the direction of
// imports that ARCHITECTURE.md sets, and the agreement of README.md and
// .ci/run on the test command.
package lint

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/mailrepl/mailrepl"

// A pattern names packages. A pattern whose first element has no dot is a
// path inside this module ("uid", "mailbox/..."; "." is the module's root
// package); any other is a full import path. "x/..." matches x and every
// package below it; '*' matches within one path element, so "mailbox/*/..."
// is every package below mailbox, the backends, but not mailbox itself.

// mayImport rules say what the packages matched by pkgs may import, in
// code that is built into them (test files do not count).
var mayImport = []struct {
	pkgs   string
	except []string // packages matched by pkgs that the rule spares
	// ours: when not nil, the only packages of this module that pkgs may
	// import directly; empty means none.
	ours []string
	// never: packages that pkgs must not depend on, directly or through
	// another package.
	never []string
	why   string
}{
	{pkgs: "uid", ours: []string{},
		why: "uid is the vocabulary at the bottom: it imports nothing of ours"},
	{pkgs: "ratelimit/...", ours: []string{"ratelimit/..."},
		why: "ratelimit is a leaf: replica declares the Limiter it needs, examples connect the two"},
	{pkgs: "mailbox", ours: []string{"uid"},
		why: "the store contracts rest on uid alone"},
	{pkgs: "mailbox/*/...", never: []string{"journal/...", "replica/...", "ratelimit/...", "examples/..."},
		why: "backends (memstore, maildir, imapstore, mailboxtest) know nothing of the engine"},
	{pkgs: "journal/...", ours: []string{"journal/...", "mailbox", "uid"},
		why: "the journal records changes to mailboxes and nothing else"},
	{pkgs: "replica/...", never: []string{"ratelimit/...", "mailbox/*/...", "examples/..."},
		why: "replica takes a Limiter and any Store; the programs in examples pick them (memstore only in tests)"},
	{pkgs: ".", ours: []string{},
		why: "the root package is the documentation of the library"},
}

// importedOnlyBy rules say which packages alone may import pkg directly.
var importedOnlyBy = []struct {
	pkg string
	by  []string // empty: no package may
	why string
}{
	{pkg: "github.com/cockroachdb/pebble/...", by: []string{"journal/..."},
		why: "only the journal stores state; no pebble type leaves it"},
	{pkg: "github.com/emersion/go-message/...", by: []string{"mailbox/..."},
		why: "parsing messages is the stores' business"},
	{pkg: "github.com/emersion/go-imap/...", by: []string{"mailbox/imapstore/..."},
		why: "go-imap v2 is a beta: it stays behind the IMAP store's own code"},
	{pkg: "github.com/emersion/go-sasl/...", by: []string{"mailbox/imapstore/..."},
		why: "logins are the IMAP store's business"},
	{pkg: "ratelimit/...", by: []string{"examples/...", "ratelimit/...", "internal/batch"},
		why: "nothing but the programs in examples (and internal/batch, the code they share) wires the whole library together"},
	{pkg: "internal/batch", by: []string{"examples/..."},
		why: "it is what the batch programs share, part of them"},
	{pkg: "internal/batchtest", by: []string{"examples/..."},
		why: "it is what the batch programs' tests share"},
	{pkg: "examples/...", by: []string{},
		why: "programs are imported by nothing"},
	{pkg: ".", by: []string{},
		why: "the root package is documentation, imported by nothing"},
}

// expand turns a pattern into one over full import paths.
func expand(pattern string) string {
	if pattern == "." {
		return module
	}
	if first, _, _ := strings.Cut(pattern, "/"); !strings.Contains(first, ".") {
		return module + "/" + pattern
	}
	return pattern
}

// match reports whether the import path pkg matches pattern.
func match(pattern, pkg string) bool {
	pattern = expand(pattern)
	base, below := strings.CutSuffix(pattern, "/...")
	if below {
		n := strings.Count(base, "/") + 1
		parts := strings.SplitN(pkg, "/", n+1)
		if len(parts) < n {
			return false
		}
		pkg = strings.Join(parts[:n], "/")
	}
	ok, err := path.Match(base, pkg)
	return ok && err == nil
}

func matchAny(patterns []string, pkg string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return match(p, pkg) })
}

func ours(pkg string) bool { return pkg == module || strings.HasPrefix(pkg, module+"/") }

// node is one package of the module: what it imports directly and what it
// depends on, directly or not, in its non-test build.
type node struct {
	Imports []string
	Deps    []string
}

// check returns one line for every edge of graph that breaks a rule.
func check(graph map[string]node) []string {
	var bad []string
	for _, pkg := range slices.Sorted(mapKeys(graph)) {
		n := graph[pkg]
		for _, r := range mayImport {
			if !match(r.pkgs, pkg) || matchAny(r.except, pkg) {
				continue
			}
			if r.ours != nil {
				for _, imp := range n.Imports {
					if ours(imp) && !matchAny(r.ours, imp) {
						bad = append(bad, fmt.Sprintf("%s imports %s: %s", pkg, imp, r.why))
					}
				}
			}
			for _, dep := range n.Deps {
				if matchAny(r.never, dep) {
					how := "depends on"
					if slices.Contains(n.Imports, dep) {
						how = "imports"
					}
					bad = append(bad, fmt.Sprintf("%s %s %s: %s", pkg, how, dep, r.why))
				}
			}
		}
		for _, r := range importedOnlyBy {
			if matchAny(r.by, pkg) {
				continue
			}
			for _, imp := range n.Imports {
				if match(r.pkg, imp) {
					bad = append(bad, fmt.Sprintf("%s imports %s: %s", pkg, imp, r.why))
				}
			}
		}
	}
	return bad
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// repoRoot is the folder of the module's go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// moduleGraph lists the module's packages with go list.
func moduleGraph(t *testing.T) map[string]node {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,Deps,Error", "./...")
	cmd.Dir = repoRoot(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	graph := map[string]node{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath string
			Imports    []string
			Deps       []string
			Error      *struct{ Err string }
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		if p.Error != nil {
			t.Errorf("go list %s: %s", p.ImportPath, p.Error.Err)
		}
		graph[p.ImportPath] = node{Imports: p.Imports, Deps: p.Deps}
	}
	return graph
}

// TestImports fails on every import that breaks the direction of
// ARCHITECTURE.md ("Packages and the direction of imports").
func TestImports(t *testing.T) {
	graph := moduleGraph(t)
	for _, want := range []string{module + "/uid", module + "/mailbox"} {
		if _, ok := graph[want]; !ok {
			t.Fatalf("go list did not list %s; got %v", want, slices.Sorted(mapKeys(graph)))
		}
	}
	for _, line := range check(graph) {
		t.Error(line)
	}
	t.Logf("checked %d packages", len(graph))
}

// fakeGraph builds a graph from direct imports written as "a -> b c",
// paths inside the module, and fills in the transitive Deps.
func fakeGraph(edges ...string) map[string]node {
	direct := map[string][]string{}
	for _, e := range edges {
		from, to, _ := strings.Cut(e, "->")
		f := expand(strings.TrimSpace(from))
		direct[f] = direct[f]
		for _, imp := range strings.Fields(to) {
			direct[f] = append(direct[f], expand(imp))
		}
	}
	graph := map[string]node{}
	for pkg, imps := range direct {
		if !ours(pkg) {
			continue
		}
		seen := map[string]bool{}
		var walk func(string)
		walk = func(p string) {
			for _, d := range direct[p] {
				if !seen[d] {
					seen[d] = true
					walk(d)
				}
			}
		}
		walk(pkg)
		graph[pkg] = node{Imports: imps, Deps: slices.Sorted(mapKeys(seen))}
	}
	return graph
}

// The layering the architecture draws, which must pass.
var goodEdges = []string{
	". ->",
	"uid ->",
	"ratelimit -> golang.org/x/time/rate",
	"mailbox -> uid github.com/emersion/go-message/textproto",
	"mailbox/memstore -> mailbox uid",
	"mailbox/maildir -> mailbox uid github.com/emersion/go-message",
	"mailbox/mailboxtest -> mailbox uid",
	"journal -> mailbox uid github.com/cockroachdb/pebble/v2 journal/internal/codec",
	"journal/internal/codec -> uid",
	"replica -> journal mailbox uid",
	"examples/sync_all_users -> replica journal ratelimit mailbox/maildir mailbox/memstore",
	"internal/lint ->",
}

func TestCheckerPassesTheArchitecture(t *testing.T) {
	if bad := check(fakeGraph(goodEdges...)); len(bad) > 0 {
		t.Errorf("the layering of ARCHITECTURE.md is rejected:\n%s", strings.Join(bad, "\n"))
	}
}

// Each forbidden edge, added to the good graph, is reported.
func TestCheckerCatchesForbiddenEdges(t *testing.T) {
	tests := []struct {
		edge string
		want string // the report must contain it
	}{
		{"uid -> mailbox", "uid imports " + module + "/mailbox"},
		{"uid -> ratelimit", "uid imports " + module + "/ratelimit"},
		{"ratelimit -> uid", "ratelimit imports " + module + "/uid"},
		{"mailbox -> journal", "mailbox imports " + module + "/journal"},
		{"mailbox -> mailbox/memstore", "mailbox imports " + module + "/mailbox/memstore"},
		{"mailbox/memstore -> journal", "mailbox/memstore imports " + module + "/journal"},
		{"mailbox/maildir -> replica", "mailbox/maildir imports " + module + "/replica"},
		{"mailbox/imapstore -> ratelimit", "mailbox/imapstore imports " + module + "/ratelimit"},
		{"mailbox/mailboxtest -> internal/testutil", ""},
		{"journal -> replica", "journal imports " + module + "/replica"},
		{"journal -> ratelimit", "journal imports " + module + "/ratelimit"},
		{"journal -> mailbox/memstore", "journal imports " + module + "/mailbox/memstore"},
		{"mailbox -> github.com/cockroachdb/pebble/v2", "mailbox imports github.com/cockroachdb/pebble/v2"},
		{"replica -> github.com/cockroachdb/pebble/v2/vfs", "replica imports github.com/cockroachdb/pebble/v2/vfs"},
		{"journal -> github.com/emersion/go-message", "journal imports github.com/emersion/go-message"},
		{"replica -> github.com/emersion/go-message/mail", "replica imports github.com/emersion/go-message/mail"},
		{"replica -> ratelimit", "replica imports " + module + "/ratelimit"},
		{"replica -> mailbox/memstore", "replica imports " + module + "/mailbox/memstore"},
		{"replica -> mailbox/maildir", "replica imports " + module + "/mailbox/maildir"},
		{"replica -> examples/sync_all_users", "imports " + module + "/examples/sync_all_users"},
		{"internal/testutil -> ratelimit", "internal/testutil imports " + module + "/ratelimit"},
		{"examples/restore -> examples/sync_all_users", "examples/restore imports " + module + "/examples/sync_all_users"},
		{"replica -> .", "replica imports " + module + ":"},
		{". -> uid", module + " imports " + module + "/uid"},
		// Indirect: a backend that reaches the journal through a helper.
		{"mailbox/maildir -> internal/helper\ninternal/helper -> journal", "mailbox/maildir depends on " + module + "/journal"},
	}
	for _, tc := range tests {
		t.Run(tc.edge, func(t *testing.T) {
			edges := append(slices.Clone(goodEdges), strings.Split(tc.edge, "\n")...)
			bad := check(fakeGraph(edges...))
			if tc.want == "" {
				if len(bad) > 0 {
					t.Errorf("allowed edge reported: %v", bad)
				}
				return
			}
			if len(bad) == 0 {
				t.Fatalf("forbidden edge %q not reported", tc.edge)
			}
			if !slices.ContainsFunc(bad, func(s string) bool { return strings.Contains(s, tc.want) }) {
				t.Errorf("report %q lacks %q", bad, tc.want)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, pkg string
		want         bool
	}{
		{"uid", module + "/uid", true},
		{"uid", module + "/uid/x", false},
		{"uid", module + "/uidx", false},
		{"mailbox/...", module + "/mailbox", true},
		{"mailbox/...", module + "/mailbox/memstore", true},
		{"mailbox/...", module + "/mailboxes", false},
		{"mailbox/*/...", module + "/mailbox", false},
		{"mailbox/*/...", module + "/mailbox/maildir", true},
		{"mailbox/*/...", module + "/mailbox/maildir/internal/x", true},
		{".", module, true},
		{".", module + "/uid", false},
		{"github.com/cockroachdb/pebble/...", "github.com/cockroachdb/pebble/v2", true},
		{"github.com/cockroachdb/pebble/...", "github.com/cockroachdb/pebble", true},
		{"github.com/cockroachdb/pebble/...", "github.com/cockroachdb/pebblex", false},
		{"github.com/emersion/go-message/...", "github.com/emersion/go-message/textproto", true},
	}
	for _, tc := range tests {
		if got := match(tc.pattern, tc.pkg); got != tc.want {
			t.Errorf("match(%q, %q) = %v, want %v", tc.pattern, tc.pkg, got, tc.want)
		}
	}
}

// TestREADMEAndCI: .ci/run runs exactly the test command that README.md
// gives, and README.md starts with the demo and that command.
func TestREADMEAndCI(t *testing.T) {
	root := repoRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	ci, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	inBlock := false
	for line := range strings.Lines(string(readme)) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "```") {
			inBlock = !inBlock
			continue
		}
		if inBlock && strings.HasPrefix(line, "go test ") && !slices.Contains(cmds, line) {
			cmds = append(cmds, line)
		}
	}
	if len(cmds) != 1 {
		t.Fatalf("README.md gives %d test commands %q, want one", len(cmds), cmds)
	}
	cmd := cmds[0]
	if !strings.Contains(cmd, "-race") || !strings.HasSuffix(cmd, " ./...") {
		t.Errorf("README test command %q: want -race over ./...", cmd)
	}
	found := false
	for line := range strings.Lines(string(ci)) {
		if strings.TrimSpace(line) == cmd {
			found = true
		}
	}
	if !found {
		t.Errorf(".ci/run does not run the README's test command %q on a line of its own", cmd)
	}
	head := string(readme[:min(len(readme), 600)])
	for _, want := range []string{"go run ./examples/sync_all_users -demo", cmd} {
		if !strings.Contains(head, want) {
			t.Errorf("README.md does not start with %q", want)
		}
	}
	info, err := os.Stat(filepath.Join(root, ".ci", "run"))
	if err == nil && info.Mode()&0o111 == 0 {
		t.Error(".ci/run is not executable")
	}
}
