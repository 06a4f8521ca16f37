module github.com/mailrepl/mailrepl

go 1.26.8

require github.com/emersion/go-message v0.18.2

require golang.org/x/time v0.16.0
