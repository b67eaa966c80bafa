// Argo CD's application controller and repo server, an in-memory Redis and a git HTTP server in
// one program, so the Argo CD end-to-end tests run the real Argo CD as local processes against
// the test API server (as Argo CD's own local development does). Built by src/envtest/build.ts
// into .cache/argocd-local/bin/.
//
//	argocd-local application-controller [flags]  Argo CD's own command, flags as documented
//	argocd-local repo-server [flags]
//	argocd-local redis ADDR                      miniredis (Argo CD's cache needs a Redis)
//	argocd-local git-server ADDR ROOT            git http-backend over HTTP for the repos in ROOT
package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"

	"github.com/alicebob/miniredis/v2"
	"github.com/spf13/cobra"

	appcontroller "github.com/argoproj/argo-cd/v3/cmd/argocd-application-controller/commands"
	reposerver "github.com/argoproj/argo-cd/v3/cmd/argocd-repo-server/commands"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: argocd-local application-controller|repo-server|redis|git-server ...")
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "application-controller":
		run(appcontroller.NewCommand(), args)
	case "repo-server":
		run(reposerver.NewCommand(), args)
	case "redis":
		if len(args) != 1 {
			fail("usage: argocd-local redis ADDR")
		}
		redis(args[0])
	case "git-server":
		if len(args) != 2 {
			fail("usage: argocd-local git-server ADDR ROOT")
		}
		gitServer(args[0], args[1])
	default:
		fail("unknown command " + os.Args[1])
	}
}

func run(command *cobra.Command, args []string) {
	command.SetArgs(args)
	if err := command.Execute(); err != nil {
		os.Exit(1)
	}
}

func redis(addr string) {
	server := miniredis.NewMiniRedis()
	if err := server.StartAddr(addr); err != nil {
		fail(err.Error())
	}
	fmt.Printf("redis listening on %s\n", server.Addr())
	select {}
}

// Git's smart HTTP protocol by git's own CGI program: what a hosted git server speaks.
func gitServer(addr, root string) {
	git, err := exec.LookPath("git")
	if err != nil {
		fail(err.Error())
	}
	handler := &cgi.Handler{
		Path: git,
		Args: []string{"http-backend"},
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		fail(err.Error())
	}
	fmt.Printf("git listening on %s\n", listener.Addr())
	if err := http.Serve(listener, handler); err != nil {
		fail(err.Error())
	}
}

func fail(message string) {
	fmt.Fprintln(os.Stderr, message)
	os.Exit(2)
}
