package corpora

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHam: the repository's ham is the files SHA256SUMS lists, unchanged,
// HamMessages of them, next to the licence and the provenance README.
func TestHam(t *testing.T) {
	dir := Ham(t)
	f, err := os.Open(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	listed := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS: bad line %q", sc.Text())
		}
		listed[name] = sum
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(listed) != HamMessages {
		t.Errorf("SHA256SUMS lists %d files, want %d", len(listed), HamMessages)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, e := range ents {
		switch name := e.Name(); name {
		case "SHA256SUMS", "LICENSE", "README.md":
		default:
			want, ok := listed[name]
			if !ok {
				t.Errorf("%s is not in SHA256SUMS", name)
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != want {
				t.Errorf("%s changed: SHA-256 %x, SHA256SUMS says %s", name, got, want)
			}
			seen++
		}
	}
	if seen != len(listed) {
		t.Errorf("%d of the %d files SHA256SUMS lists are there", seen, len(listed))
	}
	for _, name := range []string{"LICENSE", "README.md"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("the ham's %s: %v", name, err)
			continue
		}
		if name == "LICENSE" && !strings.Contains(string(b), "Apache License") {
			t.Errorf("the ham's LICENSE is not the Apache licence")
		}
	}
}

// fakeT records what a finder did to its test.
type fakeT struct{ fatal, skip string }

func (f *fakeT) Helper()                        {}
func (f *fakeT) Fatalf(format string, a ...any) { f.fatal = fmt.Sprintf(format, a...) }
func (f *fakeT) Skipf(format string, a ...any)  { f.skip = fmt.Sprintf(format, a...) }

// TestNotmuchAbsent: without the shared corpora a test is skipped saying
// NOT RUN, and fails when they are required.
func TestNotmuchAbsent(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nothing-here")
	t.Setenv("MAILREPL_CORPORA", missing)

	t.Setenv(RequireEnv, "")
	var ft fakeT
	Notmuch(&ft, "default")
	if ft.fatal != "" || !strings.HasPrefix(ft.skip, "NOT RUN: ") || !strings.Contains(ft.skip, "MAILREPL_CORPORA") {
		t.Errorf("not required: fatal %q, skip %q; want a skip saying NOT RUN and how to run it", ft.fatal, ft.skip)
	}

	t.Setenv(RequireEnv, "1")
	ft = fakeT{}
	Notmuch(&ft, "default")
	if ft.skip != "" || !strings.Contains(ft.fatal, RequireEnv) {
		t.Errorf("required: fatal %q, skip %q; want a failure", ft.fatal, ft.skip)
	}
}

// TestNotmuchPresent: a folder holding notmuch/test/corpora is found.
func TestNotmuchPresent(t *testing.T) {
	dir := t.TempDir()
	want := filepath.Join(dir, "notmuch", "test", "corpora", "default")
	if err := os.MkdirAll(want, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MAILREPL_CORPORA", dir)
	t.Setenv(RequireEnv, "1")
	var ft fakeT
	if got := Notmuch(&ft, "default"); got != want || ft.fatal != "" || ft.skip != "" {
		t.Errorf("Notmuch = %q (fatal %q, skip %q), want %q", got, ft.fatal, ft.skip, want)
	}
}
