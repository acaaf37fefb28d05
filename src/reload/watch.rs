//! The config-file watcher. It watches each `--config` file's *parent directory* (not the
//! file): a Kubernetes ConfigMap volume updates by swapping the `..data` symlink, and editors
//! write a temporary file and rename it, neither of which a watch on the file itself sees.
//! Any event in those directories wakes it; after a quiet `debounce` period it hashes the
//! files' content read through their paths (so symlinks are followed afresh) and asks for a
//! reload only when the hash changed: a touch, an attribute change or the kubelet's periodic
//! refresh does nothing. A slow poll of the same hash covers file systems without inotify.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{ReloadRequest, Trigger};
use crate::config::provider::file_path_of;

/// Quiet time after the last file event before the content is compared.
pub const DEBOUNCE: Duration = Duration::from_secs(1);
/// How often the content is compared even without events.
pub const POLL: Duration = Duration::from_secs(15);

/// The files among the `--config` URIs.
pub fn config_files(uris: &[String]) -> Vec<PathBuf> {
    uris.iter()
        .filter_map(|u| file_path_of(u))
        .map(PathBuf::from)
        .collect()
}

/// A hash of the files' content (read through their paths); an unreadable file hashes as
/// such, so its return is a change too.
pub fn content_hash(files: &[PathBuf]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in files {
        match std::fs::read(f) {
            Ok(bytes) => {
                1u8.hash(&mut h);
                bytes.hash(&mut h);
            }
            Err(e) => {
                0u8.hash(&mut h);
                e.kind().to_string().hash(&mut h);
            }
        }
    }
    h.finish()
}

fn parent_dir(f: &Path) -> PathBuf {
    match f.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The hash of the config files' content as last seen by any reload (shared by the watcher
/// and the reloader, so that an edit followed by SIGHUP reloads once).
pub type SeenHash = Arc<AtomicU64>;

/// Starts watching `files`; `seen` holds the hash of the content that was loaded. Sends a
/// `Trigger::File` request on every content change until `stop` is cancelled.
pub fn spawn(
    files: Vec<PathBuf>,
    seen: SeenHash,
    tx: mpsc::Sender<ReloadRequest>,
    debounce: Duration,
    poll: Duration,
    stop: CancellationToken,
) -> Result<JoinHandle<()>, notify::Error> {
    // A one-slot wake-up: one pending wake covers any number of events.
    let (wake_tx, mut wake_rx) = mpsc::channel::<()>(1);
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if res.is_ok() {
            let _ = wake_tx.try_send(());
        }
    })?;
    let mut dirs: Vec<PathBuf> = files.iter().map(|f| parent_dir(f)).collect();
    dirs.sort();
    dirs.dedup();
    for d in &dirs {
        watcher.watch(d, RecursiveMode::NonRecursive)?;
    }
    tracing::info!(directories = ?dirs, "Watching the config files for changes.");
    Ok(tokio::spawn(async move {
        let _watcher = watcher;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                w = wake_rx.recv() => if w.is_none() { return },
                _ = tokio::time::sleep(poll) => {}
            }
            // Debounce: wait until the directory has been quiet for `debounce`.
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    w = wake_rx.recv() => if w.is_none() { return },
                    _ = tokio::time::sleep(debounce) => break,
                }
            }
            let h = content_hash(&files);
            if seen.swap(h, Ordering::SeqCst) == h {
                continue;
            }
            tracing::info!("Config file content changed; reloading.");
            let req = ReloadRequest {
                trigger: Trigger::File,
                reply: None,
            };
            if tx.send(req).await.is_err() {
                return;
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_file_uris_are_watched() {
        let f = config_files(&[
            "a.yaml".into(),
            "file:/etc/b.yaml".into(),
            "env:X".into(),
            "yaml:a: 1".into(),
        ]);
        assert_eq!(
            f,
            vec![PathBuf::from("a.yaml"), PathBuf::from("/etc/b.yaml")]
        );
        assert_eq!(parent_dir(Path::new("a.yaml")), PathBuf::from("."));
    }

    #[test]
    fn hash_follows_content_not_metadata() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("c.yaml");
        std::fs::write(&f, "a: 1").unwrap();
        let files = vec![f.clone()];
        let h1 = content_hash(&files);
        std::fs::write(&f, "a: 1").unwrap();
        assert_eq!(
            content_hash(&files),
            h1,
            "rewriting the same bytes is no change"
        );
        std::fs::write(&f, "a: 2").unwrap();
        assert_ne!(content_hash(&files), h1);
        std::fs::remove_file(&f).unwrap();
        assert_ne!(content_hash(&files), h1);
    }

    /// The Kubernetes ConfigMap layout: `c.yaml -> ..data/c.yaml`, `..data -> ..v1`; an
    /// update creates `..v2`, points `..data_tmp` at it and renames it over `..data`.
    #[tokio::test]
    async fn configmap_symlink_swap_is_seen_and_touch_is_not() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir(root.join("..v1")).unwrap();
        std::fs::write(root.join("..v1/c.yaml"), "v: 1").unwrap();
        std::os::unix::fs::symlink("..v1", root.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/c.yaml", root.join("c.yaml")).unwrap();
        let files = vec![root.join("c.yaml")];
        let (tx, mut rx) = mpsc::channel(4);
        let stop = CancellationToken::new();
        let task = spawn(
            files.clone(),
            Arc::new(AtomicU64::new(content_hash(&files))),
            tx,
            Duration::from_millis(100),
            Duration::from_secs(3600),
            stop.clone(),
        )
        .unwrap();
        // A touch of the real file (same content) triggers nothing.
        std::fs::write(root.join("..v1/c.yaml"), "v: 1").unwrap();
        let none = tokio::time::timeout(Duration::from_millis(600), rx.recv()).await;
        assert!(none.is_err(), "a touch must not reload");
        // The atomic swap.
        std::fs::create_dir(root.join("..v2")).unwrap();
        std::fs::write(root.join("..v2/c.yaml"), "v: 2").unwrap();
        std::os::unix::fs::symlink("..v2", root.join("..data_tmp")).unwrap();
        std::fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
        std::fs::remove_dir_all(root.join("..v1")).unwrap();
        let req = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("the swap must be seen")
            .unwrap();
        assert_eq!(req.trigger, Trigger::File);
        stop.cancel();
        let _ = task.await;
    }
}
