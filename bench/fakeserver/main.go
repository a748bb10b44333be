// Command fakeserver runs the graphmailtest fake tenant for the benchmark
// scripts: like "graphmail sandbox", but its app also holds Mail.ReadWrite
// (for the upload session path) and it runs in a process of its own, so
// that the sender's memory can be measured alone. It writes a graphmail
// configuration to the file named by -config and serves until killed.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

func main() {
	cfgPath := flag.String("config", "fake.yaml", "where to write the graphmail configuration")
	flag.Parse()
	srv, err := graphmailtest.NewServer(graphmailtest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	app := srv.App()
	srv.SetRoles(app.ClientID, []string{"Mail.Send", "Mail.ReadWrite", "SMTP.SendAsApp"})
	ca := filepath.Join(filepath.Dir(*cfgPath), "fake-ca.pem")
	if err := os.WriteFile(ca, srv.CACertPEM(), 0o600); err != nil {
		log.Fatal(err)
	}
	cfg := fmt.Sprintf("tenant_id: %s\nclient_id: %s\nclient_secret: %q\nauthority_host: %s\ngraph_endpoint: %s\n"+
		"instance_discovery: false\nca_file: %s\nsender: %s\ntoken_cache:\n  path: none\nsmtp:\n  host: %s\n  port: %d\n",
		srv.TenantID(), app.ClientID, app.Secret, srv.AuthorityHost(), srv.GraphEndpoint(), ca, srv.Mailboxes()[0], srv.SMTPHost(), srv.SMTPPort())
	if err := os.WriteFile(*cfgPath, []byte(cfg), 0o600); err != nil {
		log.Fatal(err)
	}
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	n := srv.Messages()
	log.Printf("fakeserver: %d message(s) delivered", len(n))
}
