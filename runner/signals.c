/* Signal handling of `attrun run` (see signals.h). */
#include "runner/signals.h"
#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t g_defer = 0, g_sig = 0;

static void on_signal(int sig)
{
    if (!g_defer) {
        /* set-up: nothing written yet, nothing to save */
        static const char m[] = "attrun run: interrupted by a signal during set-up (nothing written)\n";
        ssize_t k = write(STDERR_FILENO, m, sizeof m - 1);
        (void)k;
        _exit(3);
    }
    g_sig = sig;
}

void signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

void signals_defer(void)
{
    g_defer = 1;
}

int signals_pending(void)
{
    return g_sig;
}
