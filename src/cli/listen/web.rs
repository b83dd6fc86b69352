//! `listen --http`: the live-caption page's server from the flags, and its counts at the end.

use anyhow::{bail, Result};

#[cfg(not(feature = "http"))]
use earsight::stream::Sink;

use super::ListenArgs;
#[cfg(feature = "http")]
use {super::count, anyhow::Context};

/// Where the token comes from when `--http-token` names no file.
#[cfg(feature = "http")]
const TOKEN_VARIABLE: &str = "EARSIGHT_HTTP_TOKEN";

#[cfg(feature = "http")]
pub(super) type Server = earsight::stream::web::WebSink;

#[cfg(feature = "http")]
pub(super) fn serve(args: &ListenArgs) -> Result<Option<Server>> {
    use earsight::stream::web::{WebConfig, WebSink};
    let Some(addr) = &args.http else {
        return Ok(None);
    };
    let token = match &args.http_token {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--http-token {}", path.display()))?;
            let token = text.lines().next().unwrap_or("").trim().to_string();
            if token.is_empty() {
                bail!(
                    "--http-token {}: the file is empty; put the token on its first line",
                    path.display()
                );
            }
            Some(token)
        }
        None => std::env::var(TOKEN_VARIABLE).ok().filter(|t| !t.is_empty()),
    };
    let config = WebConfig {
        addr: addr.clone(),
        token,
        open: args.open,
        clients: args.http_clients,
    };
    let server = WebSink::start(&config).map_err(anyhow::Error::msg)?;
    eprintln!("live captions at http://{}/", server.addr());
    Ok(Some(server))
}

#[cfg(feature = "http")]
pub(super) fn finish(server: Option<Server>, json: bool) {
    let Some(mut server) = server else {
        return;
    };
    server.finish();
    let c = server.counts();
    let n = count;
    if json {
        eprintln!("{}", serde_json::json!({ "http": c }));
    } else {
        eprintln!(
            "  web page         {} requests ({} refused without the token, {} not found); {} \
             event streams, {} dropped for falling behind, {} refused (too many)",
            n(&c.requests),
            n(&c.unauthorized),
            n(&c.not_found),
            n(&c.clients_served),
            n(&c.clients_dropped),
            n(&c.clients_refused),
        );
    }
}

/// A build without the web page: `--http` says how to get one.
#[cfg(not(feature = "http"))]
pub(super) enum Server {}

#[cfg(not(feature = "http"))]
impl Sink for Server {
    fn event(&mut self, _: &earsight::stream::Event) -> std::io::Result<()> {
        match *self {}
    }
}

#[cfg(not(feature = "http"))]
pub(super) fn serve(args: &ListenArgs) -> Result<Option<Server>> {
    if args.http.is_some() {
        bail!(
            "this earsight was built without the web page: build it with the `http` feature \
             (`cargo install --path . --features http`)"
        );
    }
    Ok(None)
}

#[cfg(not(feature = "http"))]
pub(super) fn finish(_: Option<Server>, _: bool) {}
