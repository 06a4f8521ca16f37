package readonly

import (
	"crypto/sha256"
	"testing"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// TestIdentityIsStable pins the derivation of UIDVALIDITY and mailbox ID:
// a replica remembers them, so they must never change.
func TestIdentityIsStable(t *testing.T) {
	for _, tc := range []struct {
		scheme string
		v      uid.Validity
		id     mailbox.ID
	}{
		{"mbox", 3254869934, "mbox-12c6aec3570cae5ac9a08b36adbfc106"},
		{"loose", 3619617832, "loose-c87655772d907a209a28ede23099cccd"},
	} {
		d := sha256.Sum256([]byte("digest of " + tc.scheme))
		v, id := Identity(tc.scheme, "INBOX", d[:])
		if v != tc.v || id != tc.id {
			t.Errorf("Identity(%s) = %d, %s; want %d, %s", tc.scheme, v, id, tc.v, tc.id)
		}
	}
	if v, _ := Identity("mbox", "INBOX", make([]byte, 32)); v != 1 {
		t.Errorf("a digest starting with 4 zero bytes gives UIDVALIDITY %d, want 1", v)
	}
}
