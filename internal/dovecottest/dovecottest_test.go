package dovecottest

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestServer(t *testing.T) {
	srv := Start(t, Config{MailRoot: filepath.Join(t.TempDir(), "mail")})
	c := srv.Login(t)
	if err := c.Create("Work/2024"); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe("Work/2024"); err != nil {
		t.Fatal(err)
	}
	msg := []byte("Subject: hello\r\n\r\nbody\r\n")
	date := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	v, u, err := c.Append("INBOX", []string{`\Seen`, "kw1"}, date, msg)
	if err != nil || v == 0 || u != 1 {
		t.Fatalf("Append = %d %d %v", v, u, err)
	}
	sel, err := c.Select("INBOX")
	if err != nil || sel.Exists != 1 || sel.UIDValidity != v || sel.UIDNext != 2 {
		t.Fatalf("Select = %+v, %v", sel, err)
	}
	ms, err := c.UIDFetch("1:*", FetchItemsBody)
	if err != nil || len(ms) != 1 {
		t.Fatalf("UIDFetch = %v, %v", ms, err)
	}
	m := ms[0]
	if m.UID != 1 || !slices.Equal(m.Flags, []string{`\Seen`, "kw1"}) || m.Size != int64(len(msg)) || !m.InternalDate.Equal(date) || !bytes.Equal(m.Body, msg) {
		t.Errorf("message = %+v", m)
	}
	if err := c.UIDStore("1", "+FLAGS", `\Deleted`); err != nil {
		t.Fatal(err)
	}
	if err := c.Expunge(); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status("INBOX")
	if err != nil || st.Messages != 0 || st.UIDNext != 2 || st.UIDValidity != v {
		t.Errorf("Status = %+v, %v", st, err)
	}
	if err := c.Rename("Work", "Job"); err != nil {
		t.Fatal(err)
	}
	list, err := c.List(false)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range list {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	if want := []string{"INBOX", "Job", "Job/2024"}; !slices.Equal(names, want) {
		t.Errorf("LIST = %q, want %q", names, want)
	}
	if _, err := c.Select("Nope"); err == nil {
		t.Error("SELECT of a missing mailbox succeeded")
	}
	if _, err := os.Stat(filepath.Join(srv.MailRoot, ".Job.2024", "cur")); err != nil {
		t.Error(err)
	}
	out, err := srv.Doveadm("mailbox", "status", "-u", srv.User, "uidnext", "INBOX")
	if err != nil || strings.TrimSpace(out) != "INBOX uidnext=2" {
		t.Errorf("doveadm = %q, %v", out, err)
	}
	if err := c.Logout(); err != nil {
		t.Error(err)
	}
}
