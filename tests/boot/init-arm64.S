// /init of the arm64 boot test (there is no arm64 busybox among the inputs):
// prints the marker lines of tests/boot/init on the console the kernel opened
// for init (fds 0-2 are /dev/console), then powers off. Assembled at test
// time with binutils-aarch64-linux-gnu.
        .global _start
        .text
_start:
        mov     x0, #1
        adr     x1, msg
        mov     x2, #(end - msg)
        mov     x8, #64                 // write
        svc     #0
        movz    x0, #0xfee1, lsl #16
        movk    x0, #0xdead
        movz    x1, #0x2812, lsl #16    // LINUX_REBOOT_MAGIC2 672274793 = 0x28121969
        movk    x1, #0x1969
        movz    x2, #0x4321, lsl #16    // LINUX_REBOOT_CMD_POWER_OFF 0x4321fedc
        movk    x2, #0xfedc
        mov     x3, #0
        mov     x8, #142                // reboot
        svc     #0
1:      b       1b
msg:    .ascii  "UKIKIT-BOOT-MARKER\nUKIKIT-BOOT-DONE\n"
end:
