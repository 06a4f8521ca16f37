//go:build !linux

package batch

import "os"

// TerminalWidth returns the width of the terminal f, in columns; 0 when
// f is not a terminal or does not say (always, on this system).
func TerminalWidth(f *os.File) int { return 0 }
