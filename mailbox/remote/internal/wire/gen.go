// Package wire is the generated code of mailbox/remote's protocol
// (wire.proto). Regenerate with go generate; it needs protoc,
// protoc-gen-go and protoc-gen-go-grpc on PATH.
package wire

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative wire.proto
