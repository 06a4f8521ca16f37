package mbox

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/mailrepl/mailrepl/uid"
)

var long = flag.Bool("long", false, "read multi-gigabyte mbox files and a million messages (slow)")

// TestLargeFile indexes a file with a message of zeros large enough that
// the message after it starts beyond 4 GiB (with -long; 64 MiB by
// default), written sparse so that it costs no disk: offsets and sizes
// past 32 bits work, and indexing allocates no more for a huge message
// than for a small one.
func TestLargeFile(t *testing.T) {
	hole := int64(64 << 20)
	if *long {
		hole = 5 << 30
	}
	path := filepath.Join(t.TempDir(), "large.mbox")
	f, err := os.Create(path)
	must(t, err)
	head := testFromLine + "\nSubject: small\n\nsmall\n\n" + testFromLine + "\nSubject: big\n\n"
	_, err = f.WriteString(head)
	must(t, err)
	_, err = f.Seek(hole, io.SeekCurrent)
	must(t, err)
	tail := "\n\n" + testFromLine + "\nSubject: after\n\nafter the hole\n"
	_, err = f.WriteString(tail)
	must(t, err)
	must(t, f.Close())

	s := mustOpen(t, path, nil)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	info, err := s.Status(t.Context(), "INBOX")
	must(t, err)
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("indexing %d MiB: %d bytes allocated", (int64(len(head))+hole+int64(len(tail)))>>20, alloc)
	if alloc > 1<<20 {
		t.Errorf("indexing allocated %d bytes", alloc)
	}
	if info.UIDNext != 4 {
		t.Fatalf("UIDNEXT %d, want 4", info.UIDNext)
	}
	ms := list(t, s, "INBOX")
	bigSize := int64(len("Subject: big\n\n")) + hole + 1 // the hole and the newline after it
	if ms[1].Size != bigSize {
		t.Errorf("the big message has %d bytes, want %d", ms[1].Size, bigSize)
	}
	b, err := read(t, s, "INBOX", 3)
	must(t, err)
	if string(b) != "Subject: after\n\nafter the hole\n" {
		t.Errorf("the message after the hole reads %q", b)
	}
	x := s.folders["INBOX"].idx.Load()
	if *long && x.entries[2].off <= 1<<32 {
		t.Errorf("the last message starts at %d, below 4 GiB", x.entries[2].off)
	}
	// The big one reads back whole, checked against its EmailID.
	rc, err := s.Open(t.Context(), "INBOX", 2)
	must(t, err)
	n, err := io.Copy(io.Discard, rc)
	rc.Close()
	if err != nil || n != bigSize {
		t.Errorf("reading the big message: %d bytes, %v", n, err)
	}
}

// TestManyMessages indexes a file of many small messages (a million with
// -long, 100,000 by default) and reports the index's memory per message.
func TestManyMessages(t *testing.T) {
	n := 100_000
	if *long {
		n = 1_000_000
	}
	path := filepath.Join(t.TempDir(), "many.mbox")
	f, err := os.Create(path)
	must(t, err)
	var buf bytes.Buffer
	for i := range n {
		buf.Write(appendMessage(nil, testFromLine, fmt.Appendf(nil, "Subject: %d\nX-Keywords: a\n\nbody %d\n", i, i), MboxRD, i == n-1))
		if buf.Len() > 1<<20 {
			_, err := f.Write(buf.Bytes())
			must(t, err)
			buf.Reset()
		}
	}
	_, err = f.Write(buf.Bytes())
	must(t, err)
	must(t, f.Close())

	s := mustOpen(t, path, nil)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	info, err := s.Status(t.Context(), "INBOX")
	must(t, err)
	runtime.GC()
	runtime.ReadMemStats(&after)
	if info.UIDNext != uid.UID(n+1) {
		t.Fatalf("UIDNEXT %d, want %d", info.UIDNext, n+1)
	}
	per := float64(after.HeapInuse-before.HeapInuse) / float64(n)
	t.Logf("%d messages: the index holds %.0f bytes per message", n, per)
	if per > 300 {
		t.Errorf("the index holds %.0f bytes per message", per)
	}
	runtime.KeepAlive(s)
	b, err := read(t, s, "INBOX", uid.UID(n))
	must(t, err)
	if want := fmt.Sprintf("Subject: %d\nX-Keywords: a\n\nbody %d\n", n-1, n-1); string(b) != want {
		t.Errorf("the last message reads %q", b)
	}
}
