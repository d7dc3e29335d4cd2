//! A mounted volume's service task: the loop that owns the `ext2::Volume`
//! and answers `volume`'s requests one at a time, bumps the generation
//! counters (`cpu_pages`) when a file's bytes or size change, and gives
//! clean blocks back while memory is short.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;

use alloc::vec::Vec;
use drivers::virtio::blk::Disk;

use ext2::{Ahead, Ino, Unlinked, Volume};
use io::block::{BlockDevice, BlockError};
use kernel::exec;
use kernel::exec::JoinHandle;
use kernel::port::Port;

use super::cpu_pages::Generations;
use super::volume::{Answer, Error, Reply, Request};

/// The owner's loop: one request at a time, each answered once; ends with
/// an unmount (or when every handle is gone, writing everything back).
///
/// While idle it also watches memory: when frames run short it gives back
/// a quarter of its clean blocks at a time, until memory is no longer
/// short or it has none left to give (then it waits for a request before
/// it watches again).
pub(super) async fn serve(
    mut vol: Volume<&'static Disk>,
    mut port: Port<Request, Reply>,
    generations: Arc<Generations>,
    closing: Arc<core::sync::atomic::AtomicUsize>,
) {
    let mut open = BTreeMap::new();
    let mut reading: Option<ReadAhead> = None;
    let watch = kernel::memory::pressure::Watch::new();
    let mut watching = watch.is_some();
    loop {
        let message = match (&watch, watching) {
            (Some(watch), true) => {
                let recv = core::pin::pin!(port.recv());
                let short = core::pin::pin!(watch.until_short());
                match futures_util::future::select(recv, short).await {
                    futures_util::future::Either::Left((m, _)) => m,
                    futures_util::future::Either::Right(((), _)) => {
                        let given = vol.shrink_cache(vol.cached_blocks() / 4 + 1);
                        watching = given > 0;
                        exec::yield_now().await;
                        continue;
                    }
                }
            }
            _ => port.recv().await,
        };
        let Some(message) = message else { break };
        watching = watch.is_some();
        let (request, answer) = message.take();
        if let Request::Shutdown = request {
            // The machine stops next: written back and marked clean even
            // with files open (nothing will use them again).
            let _ = answer.reply(vol.unmount().await.map(|_| Answer::Done));
            return;
        }
        if let Request::Unmount = request {
            if !open.is_empty() {
                let _ = answer.reply(Err(Error::Busy));
                continue;
            }
            let (hits, misses, _) = vol.cache_stats();
            log::info!(
                "ext2: unmounting: {} blocks cached, {hits} hits, {misses} misses, {} given back to memory",
                vol.cached_blocks(),
                vol.blocks_given_back()
            );
            let _ = answer.reply(vol.unmount().await.map(|_| Answer::Done));
            return;
        }
        // Which inode's bytes or size the request may change (even if it
        // fails partway), and whether it makes one.
        let changes = match &request {
            Request::Write(i, ..) | Request::Append(i, _) | Request::Truncate(i, _) | Request::Allocate(i, ..) | Request::SetAttr(i, _) => {
                Some(*i)
            }
            _ => None,
        };
        let makes = matches!(request, Request::Create(..) | Request::Mkdir(..) | Request::Symlink(..));
        // Which directories' names the request may change, and whether
        // names may move anywhere (`cpu_names`).
        let names_in = match &request {
            Request::Create(d, ..)
            | Request::Mkdir(d, ..)
            | Request::Symlink(d, ..)
            | Request::OpenCreate(d, ..)
            | Request::Link(d, ..)
            | Request::Unlink(d, _)
            | Request::Rmdir(d, _) => [Some(*d), None],
            Request::Rename(from, _, to, _) => [Some(*from), Some(*to)],
            _ => [None, None],
        };
        let moves = matches!(request, Request::Rename(..) | Request::Rmdir(..));
        let pages_of = match &request {
            Request::ReadPages(i, ..) => Some(*i),
            _ => None,
        };
        // A run read ahead for a stream goes to the volume before a read
        // that needs it (waiting for it if it is still on its way), or as
        // soon as it is there.
        if let Some(r) = &reading {
            let wanted = match &request {
                Request::Read(i, offset, len) | Request::ReadPages(i, offset, len) => r.ahead.wanted_by(*i, *offset, *len),
                _ => false,
            };
            if wanted || r.task.is_finished() {
                let r = reading.take().expect("checked");
                if let Ok((data, Ok(()))) = r.task.await {
                    vol.offer_ahead(r.ahead, data);
                }
            }
        }
        let closes = match request {
            Request::Close(ino) => Some(ino),
            _ => None,
        };
        let mut reply = handle(&mut vol, &mut open, request).await;
        if let Some(ino) = closes {
            // Nobody waits for a close's answer (`Mounted::close`).
            if let Err(e) = &reply {
                log::warn!("ext2: closing inode {ino}: {e}");
            }
            closing.fetch_sub(1, core::sync::atomic::Ordering::AcqRel);
        }
        if reading.is_none()
            && let Some((ahead, data)) = vol.take_ahead()
        {
            reading = Some(ReadAhead::start(vol.device(), ahead, data));
        }
        if let Some(i) = changes {
            generations.bump(i);
        }
        for d in names_in.into_iter().flatten() {
            generations.bump(d);
        }
        if moves {
            generations.bump_epoch();
        }
        match &mut reply {
            Ok(Answer::Found(i, _)) if makes => generations.bump(*i),
            Ok(Answer::Opened(Some((i, _)))) => generations.bump(*i),
            Ok(Answer::Pages(_, _, g)) => *g = generations.get(pages_of.expect("a page read")),
            Ok(Answer::Named(i, _, g)) => *g = generations.get(*i),
            _ => {}
        }
        // A caller that gave up has gone: its answer is dropped.
        let _ = answer.reply(reply);
    }
    if let Err(e) = vol.unmount().await {
        log::error!("ext2: writing back at the last handle's end: {e}");
    }
}

/// The run a stream will want next (`ext2::Ahead`), on its way from the
/// disk in a task of its own while the service answers: the disk works
/// while the program copies what it was given.
struct ReadAhead {
    ahead: Ahead,
    task: JoinHandle<(Vec<u8>, Result<(), BlockError>)>,
}

impl ReadAhead {
    fn start(disk: &'static Disk, ahead: Ahead, mut data: Vec<u8>) -> Self {
        let task = exec::spawn_named("ext2-readahead", async move {
            let read = disk.read(ahead.lba, &mut data).await;
            (data, read)
        });
        Self { ahead, task }
    }
}

/// Frees `gone`'s inode now if it lost its last name and nothing holds it
/// open (else its last close will).
async fn settle(vol: &mut Volume<&'static Disk>, open: &BTreeMap<Ino, u32>, gone: Unlinked) -> Result<(), Error> {
    if gone.last && !open.contains_key(&gone.ino) {
        vol.release(gone.ino).await?;
    }
    Ok(())
}

async fn handle(vol: &mut Volume<&'static Disk>, open: &mut BTreeMap<Ino, u32>, request: Request) -> Reply {
    Ok(match request {
        Request::Lookup(dir, name) => {
            let ino = vol.lookup(dir, &name).await?;
            Answer::Named(ino, vol.stat(ino).await?, 0)
        }
        Request::Stat(ino) => Answer::Stat(vol.stat(ino).await?),
        Request::List(dir) => Answer::List(vol.list(dir).await?),
        Request::Read(ino, offset, len) => Answer::Bytes(vol.read_vec(ino, offset, len).await?),
        Request::ReadPages(ino, offset, len) => {
            let size = vol.stat(ino).await?.size;
            Answer::Pages(vol.read_vec(ino, offset, len).await?, size, 0)
        }
        Request::Write(ino, offset, data) => Answer::Count(vol.write(ino, offset, &data).await?),
        Request::Append(ino, data) => {
            let end = vol.stat(ino).await?.size;
            let n = vol.write(ino, end, &data).await?;
            Answer::Appended(n, end + n as u64)
        }
        Request::Truncate(ino, size) => {
            vol.truncate(ino, size).await?;
            Answer::Done
        }
        Request::Allocate(ino, offset, len) => {
            vol.allocate(ino, offset, len).await?;
            Answer::Done
        }
        // A new inode comes back with its `stat`: one message, not two.
        Request::OpenCreate(dir, name, perm, exclusive, truncate) => {
            let ino = match vol.lookup(dir, &name).await {
                Ok(_) if exclusive => return Err(Error::Exists),
                Ok(ino) => {
                    if vol.stat(ino).await?.mode & ext2::inode::S_IFMT != ext2::inode::S_IFREG {
                        return Ok(Answer::Opened(None));
                    }
                    if truncate {
                        vol.truncate(ino, 0).await?;
                    }
                    ino
                }
                Err(Error::NotFound) => vol.create(dir, &name, perm, 0, 0).await?,
                Err(e) => return Err(e),
            };
            *open.entry(ino).or_insert(0) += 1;
            Answer::Opened(Some((ino, vol.stat(ino).await?)))
        }
        Request::Create(dir, name, perm) => {
            let ino = vol.create(dir, &name, perm, 0, 0).await?;
            Answer::Found(ino, vol.stat(ino).await?)
        }
        Request::Mkdir(dir, name, perm) => {
            let ino = vol.mkdir(dir, &name, perm, 0, 0).await?;
            Answer::Found(ino, vol.stat(ino).await?)
        }
        Request::Symlink(dir, name, target) => {
            let ino = vol.symlink(dir, &name, &target, 0, 0).await?;
            Answer::Found(ino, vol.stat(ino).await?)
        }
        Request::Readlink(ino) => Answer::Bytes(vol.readlink(ino).await?),
        Request::Link(dir, name, ino) => {
            vol.link(dir, &name, ino).await?;
            Answer::Done
        }
        Request::Unlink(dir, name) => {
            let gone = vol.unlink(dir, &name).await?;
            settle(vol, open, gone).await?;
            Answer::Unlinked(gone)
        }
        Request::Rmdir(dir, name) => {
            vol.rmdir(dir, &name).await?;
            Answer::Done
        }
        Request::Rename(fd, from, td, to) => {
            if let Some(gone) = vol.rename(fd, &from, td, &to).await? {
                settle(vol, open, gone).await?;
            }
            Answer::Done
        }
        Request::SetAttr(ino, attr) => {
            vol.set_attr(ino, attr).await?;
            Answer::Done
        }
        Request::Open(ino) => {
            *open.entry(ino).or_insert(0) += 1;
            Answer::Done
        }
        Request::Close(ino) => {
            let n = open.get_mut(&ino).ok_or(Error::Invalid)?;
            *n -= 1;
            if *n == 0 {
                open.remove(&ino);
                // Frees it only if no name is left.
                vol.release(ino).await?;
            }
            Answer::Done
        }
        Request::Sync => {
            vol.sync().await?;
            Answer::Done
        }
        Request::StatFs => Answer::StatFs(vol.statfs()),
        Request::Unmount | Request::Shutdown => unreachable!("handled by the loop"),
    })
}
