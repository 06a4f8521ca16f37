package main

import (
	"bytes"
	"maps"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/maildir"
	"github.com/mailrepl/mailrepl/uid"
)

func TestMapFolderFlags(t *testing.T) {
	base := []string{"-source", "maildir:/src/{user}", "-target", "maildir:/dst/{user}", "-journal", "/j"}
	for _, c := range []struct {
		flags []string
		want  map[string]string
		off   bool
		err   string // a line of the standard error, "" when the flags are good
	}{
		{flags: nil},
		{flags: []string{"-map-folder", "Sent=Sent Items"}, want: map[string]string{"Sent": "Sent Items"}},
		{flags: []string{"-map-folder", "Sent=Sent Items", "-map-folder", "Trash=Deleted Items", "-no-special-use-map"},
			want: map[string]string{"Sent": "Sent Items", "Trash": "Deleted Items"}, off: true},
		{flags: []string{"-map-folder", "Work=Projects/Work"}, want: map[string]string{"Work": "Projects/Work"}},
		{flags: []string{"-no-special-use-map"}, off: true},
		{flags: []string{"-map-folder", "Sent"},
			err: `invalid value "Sent" for flag -map-folder: "Sent": want SOURCE=TARGET, two folder names`},
		{flags: []string{"-map-folder", "=Sent Items"},
			err: `invalid value "=Sent Items" for flag -map-folder: "=Sent Items": want SOURCE=TARGET, two folder names`},
		{flags: []string{"-map-folder", "Sent="},
			err: `invalid value "Sent=" for flag -map-folder: "Sent=": want SOURCE=TARGET, two folder names`},
		{flags: []string{"-map-folder", "Sent=A", "-map-folder", "Sent=B"},
			err: `invalid value "Sent=B" for flag -map-folder: "Sent=B": source folder "Sent" is mapped twice (to "A" already)`},
		{flags: []string{"-map-folder", "INBOX=Old"},
			err: `sync_all_users: -map-folder: replica: FolderNames: "INBOX"="Old": INBOX is INBOX on every store: it cannot be mapped`},
		{flags: []string{"-map-folder", "Sent=Sent Items", "-map-folder", "Sent Items=Sent"},
			err: `sync_all_users: -map-folder: replica: FolderNames: "Sent Items"="Sent": its names overlap another pair's (equal, or one below the other)`},
		{flags: []string{"-map-folder", "Sent=/x"},
			err: `sync_all_users: -map-folder: replica: FolderNames: "Sent"="/x": mailbox: invalid mailbox name "/x": starts with '/'`},
	} {
		var stderr bytes.Buffer
		args := append(append(append([]string{}, base...), c.flags...), "alice")
		cfg, code := parseFlags(args, &stderr)
		if c.err != "" {
			if code != exitUsage || !bytes.Contains(stderr.Bytes(), []byte(c.err+"\n")) {
				t.Errorf("%q: exit %d, stderr:\n%s\nwant exit %d and the line %s", c.flags, code, &stderr, exitUsage, c.err)
			}
			continue
		}
		if code != exitOK {
			t.Errorf("%q: exit %d: %s", c.flags, code, &stderr)
			continue
		}
		if !maps.Equal(cfg.folderNames, folderNames(c.want)) || cfg.noSpecialUseMap != c.off {
			t.Errorf("%q: folder names %v, special-use map off %v; want %v, %v", c.flags, cfg.folderNames, cfg.noSpecialUseMap, c.want, c.off)
		}
	}
}

// TestSpecialUseFolders: Maildir stores tell a folder's special use by
// its name, so a source's Sent mirrors into a target's Sent Items; with
// -map-folder it goes where that says, and with -no-special-use-map into
// a new Sent.
func TestSpecialUseFolders(t *testing.T) {
	for _, c := range []struct {
		name  string
		flags []string
		into  string // the target folder that gets the source's Sent
	}{
		{name: "by use", into: "Sent Items"},
		{name: "map", flags: []string{"-map-folder", "Sent=Outbox"}, into: "Outbox"},
		{name: "off", flags: []string{"-no-special-use-map"}, into: "Sent"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := newTree(t)
			src, err := maildir.Open(filepath.Join(tr.src, "alice"), nil)
			require.NoError(t, err)
			_, err = src.Create(bg, "Sent")
			require.NoError(t, err)
			for _, m := range []string{"one", "two"} {
				_, err = src.Append(bg, "Sent", mailbox.BytesLiteral([]byte("Subject: "+m+"\n\nsent "+m+".\n")), mailbox.AppendMeta{Flags: mailbox.MustFlags(mailbox.Seen)})
				require.NoError(t, err)
			}
			require.NoError(t, src.Close())
			dst, err := maildir.Open(filepath.Join(tr.dst, "alice"), nil)
			require.NoError(t, err)
			_, err = dst.Create(bg, "Sent Items")
			require.NoError(t, err)
			require.NoError(t, dst.Close())

			for run := 0; run < 2; run++ {
				code, stdout, stderr := runInProcess(t, tr.args(append(slices.Clone(c.flags), "-full", "-json", "alice")...)...)
				require.Equal(t, exitOK, code, stderr)
				rep := byUser(decode(t, stdout))["alice"].Report
				require.NotNil(t, rep)
				if run == 1 {
					require.Zero(t, rep.Total.Appended, "the second run copied again")
					require.Empty(t, rep.MailboxOps, "the second run changed mailboxes")
				}
			}
			dst, err = maildir.Open(filepath.Join(tr.dst, "alice"), nil)
			require.NoError(t, err)
			defer dst.Close()
			infos, err := dst.Mailboxes(bg)
			require.NoError(t, err)
			got := map[string]int{}
			for _, in := range infos {
				got[in.Name] = 0
				for _, err := range dst.Messages(bg, in.Name, uid.All) {
					require.NoError(t, err)
					got[in.Name]++
				}
			}
			want := map[string]int{"INBOX": 0, "Sent Items": 0, c.into: 2}
			require.Equal(t, want, got)
		})
	}
}
