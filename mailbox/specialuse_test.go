package mailbox

import "testing"

func TestGuessSpecialUse(t *testing.T) {
	for _, c := range []struct {
		name string
		want SpecialUse
	}{
		{"Sent", UseSent},
		{"sent", UseSent},
		{"Sent Items", UseSent},
		{"SENT MESSAGES", UseSent},
		{"[Gmail]/Sent Mail", UseSent},
		{"[Google Mail]/Sent Mail", UseSent},
		{"INBOX/Sent", UseSent},
		{"Drafts", UseDrafts},
		{"Trash", UseTrash},
		{"Deleted Items", UseTrash},
		{"Deleted Messages", UseTrash},
		{"[Gmail]/Trash", UseTrash},
		{"Junk", UseJunk},
		{"Spam", UseJunk},
		{"Junk E-mail", UseJunk},
		{"Archive", UseArchive},
		{"[Gmail]/All Mail", UseAll},
		{"[Gmail]/Starred", UseFlagged},
		{"INBOX", UseNone},
		{"inbox", UseNone},
		{"Work", UseNone},
		{"Sent/2024", UseNone},       // a folder under Sent is no Sent folder
		{"Archive/2024", UseNone},    // nor one under Archive
		{"INBOX/Work/Sent", UseNone}, // only one level under INBOX
		{"Work/Sent", UseNone},
		{"Sentinel", UseNone},
		{"", UseNone},
	} {
		if got := GuessSpecialUse(c.name); got != c.want {
			t.Errorf("GuessSpecialUse(%q) = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestParseSpecialUse(t *testing.T) {
	for _, c := range []struct {
		attr string
		want SpecialUse
		ok   bool
	}{
		{`\Sent`, UseSent, true},
		{`\sent`, UseSent, true},
		{`\TRASH`, UseTrash, true},
		{`\All`, UseAll, true},
		{`\Archive`, UseArchive, true},
		{`\Drafts`, UseDrafts, true},
		{`\Flagged`, UseFlagged, true},
		{`\Junk`, UseJunk, true},
		{`\HasNoChildren`, UseNone, false},
		{`\Subscribed`, UseNone, false},
		{`Sent`, UseNone, false},
		{``, UseNone, false},
	} {
		got, ok := ParseSpecialUse(c.attr)
		if got != c.want || ok != c.ok {
			t.Errorf("ParseSpecialUse(%q) = %q, %v, want %q, %v", c.attr, got, ok, c.want, c.ok)
		}
	}
}
