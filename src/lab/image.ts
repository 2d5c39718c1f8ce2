/**
 * The lab's container image: a busybox-static rootfs imported into each host's dockerd.
 * Built offline from the Debian package: there is no registry to pull from.
 */
import { existsSync, mkdirSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import { sh } from '../net/shell.ts'
import { shOk } from './exec.ts'

export const LAB_IMAGE = 'orchlab/busybox:latest'

/** Path of the rootfs tarball, built on first use and cached under the lab dir. */
export async function busyboxTarball(cacheDir: string): Promise<string> {
  const tar = join(cacheDir, 'busybox-rootfs.tar')
  if (existsSync(tar)) return tar
  mkdirSync(cacheDir, { recursive: true })
  const root = join(cacheDir, `rootfs.${process.pid}`)
  const tmpTar = `${tar}.${process.pid}`
  await shOk(
    sh`set -e
      rm -rf ${root}; mkdir -p ${root}/bin ${root}/etc ${root}/tmp ${root}/proc ${root}/sys ${root}/dev ${root}/root
      cp /bin/busybox ${root}/bin/busybox
      for a in $(${root}/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox ${root}/bin/"$a"; done
      printf 'root:x:0:0:root:/root:/bin/sh\n' > ${root}/etc/passwd
      printf 'root:x:0:\n' > ${root}/etc/group
      chmod 1777 ${root}/tmp
      tar -C ${root} -cf ${tmpTar} .
      rm -rf ${root}`,
    'building the busybox image rootfs',
  )
  renameSync(tmpTar, tar)
  return tar
}
