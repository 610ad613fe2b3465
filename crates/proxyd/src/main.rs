//! `proxyd`: the front end of a multi-host installation (IMAP 143/993, POP3 110/995,
//! ManageSieve 4190, LMTP 24). Start-up only here, on the shared skeleton
//! (`ferrymail_net::startup`): the listeners and the control socket, TLS, the privilege drop,
//! the cluster secret; then the health checks, the routes-file watcher, the control socket
//! and the accept loop. What a connection does is in the library.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixListener;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use ferrymail_config::{Config, Role};
use ferrymail_net::auth_throttle::AuthThrottle;
use ferrymail_net::cli::DaemonArgs;
use ferrymail_net::exit::StartError;
use ferrymail_net::server::{serve, ServeOptions};
use ferrymail_net::startup::{self, PreInit, Running, Service, TlsUse};
use proxyd::context::Context;
use proxyd::health::Health;
use proxyd::routes_file::Routes;
use proxyd::sessions::Registry;

#[derive(Parser)]
#[command(name = "proxyd", version)]
struct Args {
    #[command(flatten)]
    daemon: DaemonArgs,
}

struct Proxyd {
    listeners: Vec<(Role, TcpListener)>,
    control: UnixListener,
}

impl Service for Proxyd {
    const NAME: &'static str = "proxyd";

    fn user(config: &Config) -> &str {
        &config.proxy.user
    }

    fn metrics_listen(config: &Config) -> Option<SocketAddr> {
        config.proxy.metrics_listen
    }

    fn register_metrics() {}

    /// Passwords and the cluster secret travel only inside TLS.
    fn tls(_config: &Config) -> TlsUse {
        TlsUse::Required
    }

    fn pre_init(start: &mut PreInit<'_>) -> Result<Self, StartError> {
        let listeners = start.tcp(&start.config.proxy.listeners)?;
        let path = start.config.run_path(&start.config.proxy.control_socket);
        let control = start.unix("control", &path, 0o600)?;
        Ok(Proxyd { listeners, control })
    }

    async fn serve(self, run: Running) -> Result<(), StartError> {
        let config = Arc::new(run.config);
        let cluster = run.cluster.ok_or_else(|| {
            StartError::config("cluster.secret_file", "proxyd needs the cluster secret")
        })?;
        let client_tls = cluster
            .client_tls()
            .map_err(|e| StartError::config("cluster.trust_anchors", e))?;
        let p = &config.proxy;
        proxyd::metrics::register(p.backends.iter().map(|b| b.name.as_str()));
        let health = Health::new(
            p.backends.iter().map(|b| b.name.as_str()),
            p.health_failures,
        );
        let routes = Routes::new(p.routes_file.clone(), ferrymail_users::login_key);
        let ctx = Arc::new(Context {
            config: config.clone(),
            users: run.users,
            tls: run.tls,
            throttle: AuthThrottle::new(&p.limits),
            shutdown: run.shutdown.clone(),
            cluster,
            connector: tokio_rustls::TlsConnector::from(client_tls),
            health: health.clone(),
            routes: routes.clone(),
            sessions: Registry::default(),
        });
        tokio::spawn(proxyd::health::run(
            health,
            p.backends.clone(),
            p.health_interval,
            run.shutdown.clone(),
        ));
        tokio::spawn(routes.watch(run.shutdown.clone()));
        self.control
            .set_nonblocking(true)
            .map_err(|e| StartError::system("control socket", e))?;
        let control = tokio::net::UnixListener::from_std(self.control)
            .map_err(|e| StartError::system("control socket", e))?;
        tokio::spawn(proxyd::control::serve(
            ctx.clone(),
            control,
            run.shutdown.clone(),
        ));
        let opts = ServeOptions::new(
            config.clone(),
            &p.limits,
            run.shutdown,
            proxyd::conn::SHUTDOWN_GRACE,
        );
        for (role, l) in &self.listeners {
            if let Ok(addr) = l.local_addr() {
                tracing::info!(%role, %addr, "listening");
            }
        }
        ferrymail_net::notify::ready();
        serve(self.listeners, opts, move |tcp, info, admission| {
            proxyd::conn::handle(ctx.clone(), tcp, info, admission)
        })
        .await
        .map_err(|e| StartError::service("serve", e))
    }
}

fn main() -> ExitCode {
    startup::main::<Proxyd>(&Args::parse().daemon)
}
