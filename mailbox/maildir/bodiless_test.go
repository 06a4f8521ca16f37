package maildir

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// TestBodiless: files removed behind the store's back leave uidlist lines
// that Bodiless lists (with their cached EmailIDs) and Messages does not;
// DropBodiless removes exactly the lines still without a file, keeps
// UIDNEXT, and a reopened store agrees.
func TestBodiless(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "mail")
	s := openTest(t, root, nil)
	var ids []mailbox.EmailID
	for i := range 5 {
		body := fmt.Sprintf("Subject: %d\n\nbody %d\n", i, i)
		appendMsg(t, s, "INBOX", body)
		ids = append(ids, mailbox.EmailIDOf([]byte(body)))
	}
	files := map[uid.UID]string{}
	for _, dir := range []string{"cur", "new"} {
		es, _ := os.ReadDir(filepath.Join(root, dir))
		for _, e := range es {
			files[uid.UID(len(files)+1)] = filepath.Join(root, dir, e.Name())
		}
	}
	// Which file is which UID: read them back by EmailID.
	byID := map[mailbox.EmailID]string{}
	for _, p := range files {
		b, _ := os.ReadFile(p)
		byID[mailbox.EmailIDOf(b)] = p
	}
	for _, i := range []int{1, 3} {
		if err := os.Remove(byID[ids[i]]); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := s.Status(ctx, "INBOX")
	var gone []uid.UID
	for m, err := range s.Bodiless(ctx, "INBOX") {
		if err != nil {
			t.Fatal(err)
		}
		if m.EmailID != ids[m.UID-1] {
			t.Errorf("bodiless uid %d has EmailID %s, want %s", m.UID, m.EmailID.Short(), ids[m.UID-1].Short())
		}
		gone = append(gone, m.UID)
	}
	if !slices.Equal(gone, []uid.UID{2, 4}) {
		t.Fatalf("Bodiless = %v, want [2 4]", gone)
	}
	for m, err := range s.Messages(ctx, "INBOX", uid.All) {
		if err != nil || m.UID == 2 || m.UID == 4 {
			t.Fatalf("Messages lists uid %d (%v)", m.UID, err)
		}
	}
	// Put 4's file back before dropping: its line must stay.
	if err := os.WriteFile(byID[ids[3]], []byte("Subject: 3\n\nbody 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.DropBodiless(ctx, "INBOX", uid.SetOf(2, 4, 5)); err != nil {
		t.Fatal(err)
	}
	for _, st := range []*Store{s, openTest(t, root, nil)} {
		var left []uid.UID
		for m, err := range st.Bodiless(ctx, "INBOX") {
			if err != nil {
				t.Fatal(err)
			}
			left = append(left, m.UID)
		}
		var listed []uid.UID
		for m, err := range st.Messages(ctx, "INBOX", uid.All) {
			if err != nil {
				t.Fatal(err)
			}
			listed = append(listed, m.UID)
		}
		after, _ := st.Status(ctx, "INBOX")
		if len(left) != 0 || !slices.Equal(listed, []uid.UID{1, 3, 4, 5}) || after.UIDNext != before.UIDNext {
			t.Fatalf("after DropBodiless: bodiless %v, listed %v, UIDNEXT %d (was %d)", left, listed, after.UIDNext, before.UIDNext)
		}
	}
	data, _ := os.ReadFile(filepath.Join(root, uidlistName))
	if n := len(slices.DeleteFunc(splitLines(string(data)), func(l string) bool { return l == "" })); n != 5 {
		t.Errorf("uidlist has %d lines, want a header and 4 messages:\n%s", n, data)
	}
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := range len(s) {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
