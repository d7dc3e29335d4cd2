# BusyBox on an ext2 disk: mount it, four writers at once (each a tree of
# its own: files, moves, removals, links, a copy made and removed), a
# program copied to the disk and run from there, df, sync, umount.
set -e
mkdir -p /mnt
mount -t ext2 /dev/vda /mnt
grep vda /proc/mounts
cat /mnt/data/hello.txt
ls -1 /mnt/data
for n in 1 2 3 4; do
    (
        d=/mnt/w$n
        mkdir -p $d/a/b
        seq 1 20000 > $d/a/numbers
        cp /mnt/data/hello.txt $d/a/b/hello
        i=0
        while [ $i -lt 30 ]; do
            echo "file $i of writer $n" > $d/f$i
            i=$((i + 1))
        done
        mv $d/a $d/moved
        rm $d/f1 $d/f2 $d/f3
        ln $d/f4 $d/hard4
        ln -s moved/numbers $d/sym
        cp -r $d/moved $d/copy
        rm -r $d/copy
        echo "writer $n done"
    ) &
done
wait
ls -1 /mnt
wc -l < /mnt/w3/sym
cat /mnt/w2/hard4
ls -1 /mnt/w1 | wc -l
cp /bin/busybox /mnt/busybox
/mnt/busybox echo ran from the disk
df /mnt | grep -c /dev/vda
rm /mnt/data/gone.txt
echo appended >> /mnt/data/hello.txt
fallocate -l 100000 /mnt/data/room
stat -c '%s' /mnt/data/room
truncate -s 5000 /mnt/data/room
stat -c '%s' /mnt/data/room
# Damaged disks: one refused at mount, one whose directory is damaged.
mkdir -p /mnt2 /mnt3
mount -t ext2 /dev/vdb /mnt2 || echo "vdb refused"
mount -t ext2 /dev/vdc /mnt3
cat /mnt3/sub/x || echo "sub unreadable"
cat /mnt3/other
umount /mnt3
sync
umount /mnt
ls -1 /mnt | wc -l
echo unmounted
