package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/internal/mailgen"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/maildir"
	"github.com/mailrepl/mailrepl/uid"
)

// BenchmarkPlainMirror times the program's mirror of a plain Maildir (no
// dovecot-uidlist: what Postfix or procmail write; read-only, numbered by
// the journal) into a Maildir on disk, as ../shared/bench times it
// against rsync, mbsync and dsync, and reports each case as a ratio to a
// plain copy of the same tree measured in the same iteration ("x-copy":
// every file read, written under a temporary name, given its mtime and
// renamed into place, as rsync -a does, without an fsync):
//
//   - full: into an empty target with a new journal;
//   - incremental: after 3.5 % of the source changed (0.5 % new files,
//     2.5 % renamed for new flags, 0.5 % removed), as bench.sh's change
//     set; "read-bytes/new-byte" is all the program read (its rchar: the
//     new messages, the target's uidlists, the journal) over the bytes of
//     new mail, which shows whether it read bodies it had no need of;
//   - noop: nothing changed since the last mirror ("read-MB/op": what it
//     read all the same).
//
// The trees are on the temporary directory's file system, not tmpfs: the
// flushes that make the copies durable are part of the price.
//
//	go test -run '^$' -bench PlainMirror -benchtime 3x ./examples/sync_all_users
func BenchmarkPlainMirror(b *testing.B) {
	const n = 5000
	root := b.TempDir()
	corpus := filepath.Join(root, "corpus")
	if err := benchPlainCorpus(corpus, n); err != nil {
		b.Fatal(err)
	}
	var size int64
	filepath.WalkDir(corpus, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && isMessagePath(p) {
			fi, _ := d.Info()
			size += fi.Size()
		}
		return nil
	})
	users := filepath.Join(root, "users")
	if err := os.WriteFile(users, []byte("A\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	seq := 0
	// fresh makes a run directory holding a copy of the corpus as user A.
	fresh := func(b *testing.B) string {
		seq++
		dir := filepath.Join(root, fmt.Sprintf("run%d", seq))
		if err := plainCopyTree(corpus, filepath.Join(dir, "A")); err != nil {
			b.Fatal(err)
		}
		return dir
	}
	var lastRead int64 // what the last mirror read (rchar)
	mirror := func(b *testing.B, dir string) (time.Duration, jsonOutput) {
		args := []string{"-users", users, "-source", "maildir:" + dir + "/{user}", "-target", "maildir:" + dir + "/out/{user}",
			"-mode", "mirror", "-journal", filepath.Join(dir, "journal"), "-json"}
		var stdout bytes.Buffer
		r0 := readBytes()
		start := time.Now()
		code := run(bg, args, &stdout, io.Discard)
		elapsed := time.Since(start)
		lastRead = readBytes() - r0
		if code != exitOK {
			b.Fatalf("exit status %d: %s", code, stdout.String())
		}
		var out jsonOutput
		if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
			b.Fatal(err)
		}
		return elapsed, out
	}
	// baseline copies the run's source tree as rsync -a would.
	baseline := func(b *testing.B, dir string) time.Duration {
		dst := filepath.Join(dir, "copy")
		start := time.Now()
		if err := plainCopyTree(filepath.Join(dir, "A"), dst); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start)
		os.RemoveAll(dst)
		return elapsed
	}
	check := func(b *testing.B, dir string) {
		if d := diffTrees(filepath.Join(dir, "A"), filepath.Join(dir, "out", "A")); d != "" {
			b.Fatalf("the target differs from the source: %s", d)
		}
	}

	b.Run("full", func(b *testing.B) {
		var took, copied time.Duration
		for b.Loop() {
			b.StopTimer()
			dir := fresh(b)
			syncDisk()
			b.StartTimer()
			t, out := mirror(b, dir)
			b.StopTimer()
			took += t
			if out.Total["appended"] != n {
				b.Fatalf("appended %d messages, want %d", out.Total["appended"], n)
			}
			check(b, dir)
			syncDisk()
			copied += baseline(b, dir)
			os.RemoveAll(dir)
			b.StartTimer()
		}
		b.SetBytes(size)
		b.ReportMetric(took.Seconds()/copied.Seconds(), "x-copy")
	})
	for _, kase := range []string{"incremental", "noop"} {
		b.Run(kase, func(b *testing.B) {
			dir := fresh(b)
			defer os.RemoveAll(dir)
			mirror(b, dir)
			var took, copied time.Duration
			var newBytes, read int64
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				if kase == "incremental" {
					nb, err := mutatePlain(filepath.Join(dir, "A"), uint64(i+1), n/200, n/40, n/200)
					if err != nil {
						b.Fatal(err)
					}
					newBytes += nb
				}
				syncDisk()
				b.StartTimer()
				t, out := mirror(b, dir)
				b.StopTimer()
				took += t
				read += lastRead
				if kase == "noop" && (out.Total["appended"] != 0 || out.Total["expunged"] != 0 || out.Total["flag_changes"] != 0) {
					b.Fatalf("a mirror with nothing to do changed something: %v", out.Total)
				}
				check(b, dir)
				syncDisk()
				copied += baseline(b, dir)
				b.StartTimer()
			}
			b.ReportMetric(took.Seconds()/copied.Seconds(), "x-copy")
			if kase == "incremental" && newBytes > 0 {
				b.ReportMetric(float64(read)/float64(newBytes), "read-bytes/new-byte")
			}
			b.ReportMetric(float64(read)/float64(b.N)/1e6, "read-MB/op")
		})
	}
}

// syncDisk writes back what earlier steps left dirty, so that a timed
// run does not pay for it (bench.sh runs sync(1) before each run too).
func syncDisk() { syscall.Sync() }

// readBytes is what this process has read so far (rchar of
// /proc/self/io; 0 where there is none).
func readBytes() int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "rchar: "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// benchPlainCorpus writes a Maildir of n generated messages (mailgen's
// default account) and removes what makes it Dovecot's: its
// dovecot-uidlist and index files (dovecot-keywords stays: the letters of
// keywords in the names mean nothing without it).
func benchPlainCorpus(dir string, n int) error {
	s, err := maildir.Open(dir, nil)
	if err != nil {
		return err
	}
	g, err := mailgen.NewWithOptions(1, nil)
	if err != nil {
		return err
	}
	if _, err := g.Populate(bg, s, mailgen.AccountSpec{Messages: n}); err != nil {
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasPrefix(d.Name(), "dovecot") && d.Name() != "dovecot-keywords" {
			return os.Remove(p)
		}
		return nil
	})
}

func isMessagePath(p string) bool {
	switch filepath.Base(filepath.Dir(p)) {
	case "cur", "new":
		return true
	}
	return false
}

// plainCopyTree copies a tree as rsync -a does: each file read, written
// under a temporary name beside its place, given its mode and mtime, and
// renamed into place; nothing fsynced.
func plainCopyTree(src, dst string) error {
	buf := make([]byte, 64<<10)
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(to, fi.Mode().Perm())
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		tmp := filepath.Join(filepath.Dir(to), "."+d.Name()+".tmp")
		out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
		if err != nil {
			return err
		}
		if _, err := io.CopyBuffer(out, in, buf); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
		if err := os.Chtimes(tmp, fi.ModTime(), fi.ModTime()); err != nil {
			return err
		}
		return os.Rename(tmp, to)
	})
}

// mutatePlain changes a plain Maildir as a user and a delivery agent
// would: adds files to new/ (copies of existing messages, under new
// unique names), renames files of cur/ for new flags and removes files.
// It returns the bytes of mail added.
func mutatePlain(dir string, seed uint64, add, flag, remove int) (int64, error) {
	rng := rand.New(rand.NewPCG(seed, 7))
	var files []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && isMessagePath(p) {
			files = append(files, p)
		}
		return nil
	})
	slices.Sort(files)
	rng.Shuffle(len(files), func(i, j int) { files[i], files[j] = files[j], files[i] })
	var added int64
	for i := 0; i < add && i < len(files); i++ {
		data, err := os.ReadFile(files[i])
		if err != nil {
			return 0, err
		}
		data = append([]byte(fmt.Sprintf("X-Bench-Copy: %d-%d\n", seed, i)), data...)
		folder := filepath.Dir(filepath.Dir(files[i]))
		name := fmt.Sprintf("%d.M%dP%dQ%d.bench,S=%d", time.Now().Unix(), i, os.Getpid(), seed, len(data))
		if err := os.WriteFile(filepath.Join(folder, "new", name), data, 0o600); err != nil {
			return 0, err
		}
		added += int64(len(data))
	}
	flags := []string{"S", "FS", "RS", "", "T"}
	for _, p := range files[add:min(len(files), add+flag)] {
		base, _, _ := strings.Cut(filepath.Base(p), ":2,")
		to := filepath.Join(filepath.Dir(filepath.Dir(p)), "cur", base+":2,"+flags[rng.IntN(len(flags))])
		if to != p {
			if err := os.Rename(p, to); err != nil {
				return 0, err
			}
		}
	}
	for _, p := range files[min(len(files), add+flag):min(len(files), add+flag+remove)] {
		if err := os.Remove(p); err != nil {
			return 0, err
		}
	}
	return added, nil
}

// diffTrees compares the messages of two Maildir trees, mailbox by
// mailbox, by EmailID, size and flags: "" when they agree.
func diffTrees(a, b string) string {
	ma, err := treeMessages(a)
	if err != nil {
		return err.Error()
	}
	mb, err := treeMessages(b)
	if err != nil {
		return err.Error()
	}
	if len(ma) != len(mb) {
		return fmt.Sprintf("%d messages, want %d", len(mb), len(ma))
	}
	for i := range ma {
		if ma[i] != mb[i] {
			return fmt.Sprintf("%q, want %q", mb[i], ma[i])
		}
	}
	return ""
}

// treeMessages lists a Maildir's messages, read-only, as "mailbox EmailID
// size flags", sorted.
func treeMessages(root string) ([]string, error) {
	s, err := maildir.Open(root, &maildir.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	infos, err := s.Mailboxes(bg)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, info := range infos {
		for m, err := range s.Messages(bg, info.Name, uid.All) {
			if err != nil {
				return nil, err
			}
			rc, err := s.Open(bg, info.Name, m.UID)
			if err != nil {
				return nil, err
			}
			id, size, err := mailbox.ComputeEmailID(rc)
			rc.Close()
			if err != nil {
				return nil, err
			}
			out = append(out, fmt.Sprintf("%s %s %d %v", info.Name, id.Short(), size, m.Flags))
		}
	}
	slices.Sort(out)
	return out, nil
}
