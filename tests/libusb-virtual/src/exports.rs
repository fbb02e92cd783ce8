//! The exported libusb-1.0 functions. Every one converts C pointers at the
//! edge and calls safe code in [`crate::handle`] / [`crate::devices`] /
//! [`crate::config`], inside [`guard`] so a panic becomes an error code
//! instead of unwinding into C.
//!
//! # Safety
//!
//! The callers' obligations are libusb's documented ones: pointers passed in
//! are NULL or valid for the access the function makes (`data` holds
//! `wLength` bytes, out-pointers are writable), and `libusb_device *`,
//! `libusb_device_handle *`, `libusb_context *` and config descriptor
//! pointers are ones this library returned and that have not been freed.
//! Representations:
//! - `libusb_context *` → `Box<Context>`;
//! - `libusb_device *` → `Arc<Device>` raw pointer, its strong count being
//!   libusb's reference count;
//! - `libusb_device_handle *` → `Box<Handle>`;
//! - `libusb_config_descriptor *` → `Box<ConfigAlloc>` (first field).
//!
//! `libusb_set_option` is variadic in C. It is declared here with the two
//! fixed parameters only and never reads the variadic value: on the x86-64
//! System V and AArch64 Linux ABIs a callee may ignore trailing arguments.

#![allow(clippy::missing_safety_doc)] // the module doc states the contract
#![deny(unsafe_op_in_unsafe_fn)]

use std::ffi::{c_char, c_int, c_uchar, c_uint, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::Arc;
use std::time::Duration;

use duo_provisioning::dfu::transport::Setup;

use crate::abi::*;
use crate::config::{self, ConfigAlloc};
use crate::debug;
use crate::devices::{self, Device};
use crate::handle::Handle;

/// `libusb_context`. Holds nothing: the bus is re-read from
/// `DUO_VIRTUAL_DIRS` on every `libusb_get_device_list`.
pub struct Context {
    _private: u8,
}

/// Run `f`; a panic is reported on stderr (by the panic hook) and turned
/// into `fallback`.
fn guard<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

fn code(result: Result<(), c_int>) -> c_int {
    result.err().unwrap_or(LIBUSB_SUCCESS)
}

// ---- library ----

#[no_mangle]
pub unsafe extern "C" fn libusb_init(ctx: *mut *mut Context) -> c_int {
    guard(LIBUSB_ERROR_OTHER, || {
        debug(format_args!("libusb_init"));
        if !ctx.is_null() {
            // SAFETY: `ctx` is a writable out-pointer.
            unsafe { *ctx = Box::into_raw(Box::new(Context { _private: 0 })) };
        }
        LIBUSB_SUCCESS
    })
}

#[no_mangle]
pub unsafe extern "C" fn libusb_exit(ctx: *mut Context) {
    guard((), || {
        if !ctx.is_null() {
            // SAFETY: `ctx` came from `libusb_init` and is freed once.
            drop(unsafe { Box::from_raw(ctx) });
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn libusb_set_option(_ctx: *mut Context, option: c_int) -> c_int {
    match option {
        LIBUSB_OPTION_LOG_LEVEL | LIBUSB_OPTION_NO_DEVICE_DISCOVERY => LIBUSB_SUCCESS,
        LIBUSB_OPTION_USE_USBDK => LIBUSB_ERROR_NOT_SUPPORTED,
        _ => LIBUSB_ERROR_INVALID_PARAM,
    }
}

#[no_mangle]
pub unsafe extern "C" fn libusb_set_debug(_ctx: *mut Context, _level: c_int) {}

#[no_mangle]
pub unsafe extern "C" fn libusb_set_log_cb(_ctx: *mut Context, _cb: *const c_void, _mode: c_int) {}

#[no_mangle]
pub extern "C" fn libusb_get_version() -> *const libusb_version {
    &VERSION.0
}

#[no_mangle]
pub extern "C" fn libusb_has_capability(capability: u32) -> c_int {
    c_int::from(capability == LIBUSB_CAP_HAS_CAPABILITY)
}

#[no_mangle]
pub extern "C" fn libusb_error_name(errcode: c_int) -> *const c_char {
    error_name(errcode).as_ptr()
}

#[no_mangle]
pub extern "C" fn libusb_strerror(errcode: c_int) -> *const c_char {
    strerror(errcode).as_ptr()
}

// ---- devices ----

#[no_mangle]
pub unsafe extern "C" fn libusb_get_device_list(
    _ctx: *mut Context,
    list: *mut *mut *const Device,
) -> isize {
    guard(LIBUSB_ERROR_OTHER as isize, || {
        if list.is_null() {
            return LIBUSB_ERROR_INVALID_PARAM as isize;
        }
        let found = devices::enumerate();
        debug(format_args!(
            "libusb_get_device_list: {} device(s)",
            found.len()
        ));
        let count = found.len();
        let mut ptrs: Vec<*const Device> = found
            .into_iter()
            .map(|d| Arc::into_raw(Arc::new(d)))
            .collect();
        ptrs.push(ptr::null());
        let array = Box::into_raw(ptrs.into_boxed_slice()) as *mut *const Device;
        // SAFETY: `list` is a writable out-pointer.
        unsafe { *list = array };
        count as isize
    })
}

#[no_mangle]
pub unsafe extern "C" fn libusb_free_device_list(list: *mut *const Device, unref_devices: c_int) {
    guard((), || {
        if list.is_null() {
            return;
        }
        // SAFETY: `list` is a NULL-terminated boxed slice from
        // `libusb_get_device_list`, freed once; its devices hold one
        // reference each if the caller has not taken them over.
        unsafe {
            let mut n = 0;
            while !(*list.add(n)).is_null() {
                if unref_devices != 0 {
                    Arc::decrement_strong_count(*list.add(n));
                }
                n += 1;
            }
            drop(Box::from_raw(ptr::slice_from_raw_parts_mut(list, n + 1)));
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn libusb_ref_device(dev: *const Device) -> *const Device {
    if !dev.is_null() {
        // SAFETY: `dev` is a live device from this library.
        unsafe { Arc::increment_strong_count(dev) };
    }
    dev
}

#[no_mangle]
pub unsafe extern "C" fn libusb_unref_device(dev: *const Device) {
    guard((), || {
        if !dev.is_null() {
            // SAFETY: the caller gives back one reference it holds.
            unsafe { Arc::decrement_strong_count(dev) };
        }
    })
}

/// The device behind a `libusb_device *`, if not NULL.
///
/// SAFETY: `dev` is NULL or a live device from this library.
unsafe fn device<'a>(dev: *const Device) -> Option<&'a Device> {
    unsafe { dev.as_ref() }
}

#[no_mangle]
pub unsafe extern "C" fn libusb_get_device_descriptor(
    dev: *const Device,
    desc: *mut libusb_device_descriptor,
) -> c_int {
    guard(LIBUSB_ERROR_OTHER, || {
        let Some(dev) = (unsafe { device(dev) }) else {
            return LIBUSB_ERROR_INVALID_PARAM;
        };
        if desc.is_null() {
            return LIBUSB_ERROR_INVALID_PARAM;
        }
        let value = libusb_device_descriptor::from_bytes(&dev.device_descriptor());
        // SAFETY: `desc` is writable.
        unsafe { desc.write(value) };
        LIBUSB_SUCCESS
    })
}

/// Build configuration `index` (the device has one) into `*config`.
///
/// SAFETY: `dev` and `config` as in the module contract.
unsafe fn config_descriptor(
    dev: *const Device,
    index: u8,
    config: *mut *const libusb_config_descriptor,
) -> c_int {
    let Some(dev) = (unsafe { device(dev) }) else {
        return LIBUSB_ERROR_INVALID_PARAM;
    };
    if config.is_null() {
        return LIBUSB_ERROR_INVALID_PARAM;
    }
    if index != 0 {
        return LIBUSB_ERROR_NOT_FOUND;
    }
    match config::parse(&dev.config_descriptor()) {
        Ok(parsed) => {
            let alloc = Box::into_raw(ConfigAlloc::new(parsed));
            // SAFETY: `config` is writable; ConfigAlloc is repr(C) with the
            // libusb struct first.
            unsafe { *config = alloc as *const libusb_config_descriptor };
            LIBUSB_SUCCESS
        }
        Err(e) => {
            debug(format_args!("configuration descriptor refused: {e:?}"));
            LIBUSB_ERROR_IO
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn libusb_get_config_descriptor(
    dev: *const Device,
    config_index: u8,
    config: *mut *const libusb_config_descriptor,
) -> c_int {
    guard(LIBUSB_ERROR_OTHER, || unsafe {
        config_descriptor(dev, config_index, config)
    })
}

#[no_mangle]
pub unsafe extern "C" fn libusb_get_active_config_descriptor(
    dev: *const Device,
    config: *mut *const libusb_config_descriptor,
) -> c_int {
    guard(LIBUSB_ERROR_OTHER, || unsafe {
        config_descriptor(dev, 0, config)
    })
}

#[no_mangle]
pub unsafe extern "C" fn libusb_get_config_descriptor_by_value(
    dev: *const Device,
    value: u8,
    config: *mut *const libusb_config_descriptor,
) -> c_int {
    // bConfigurationValue 1 is configuration index 0, the only one.
    guard(LIBUSB_ERROR_OTHER, || match value {
        1 => unsafe { config_descriptor(dev, 0, config) },
        _ => LIBUSB_ERROR_NOT_FOUND,
    })
}

#[no_mangle]
pub unsafe extern "C" fn libusb_free_config_descriptor(config: *const libusb_config_descriptor) {
    guard((), || {
        if !config.is_null() {
            // SAFETY: `config` came from `config_descriptor`, freed once.
            drop(unsafe { Box::from_raw(config as *mut ConfigAlloc) });
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn libusb_get_bus_number(dev: *const Device) -> u8 {
    unsafe { device(dev) }.map_or(0, |d| d.bus)
}

#[no_mangle]
pub unsafe extern "C" fn libusb_get_port_number(dev: *const Device) -> u8 {
    unsafe { device(dev) }.map_or(0, |d| d.port)
}

#[no_mangle]
pub unsafe extern "C" fn libusb_get_port_numbers(
    dev: *const Device,
    port_numbers: *mut u8,
    port_numbers_len: c_int,
) -> c_int {
    let Some(dev) = (unsafe { device(dev) }) else {
        return LIBUSB_ERROR_INVALID_PARAM;
    };
    if port_numbers.is_null() || port_numbers_len < 0 {
        return LIBUSB_ERROR_INVALID_PARAM;
    }
    if port_numbers_len < 1 {
        return LIBUSB_ERROR_OVERFLOW;
    }
    // SAFETY: `port_numbers` holds `port_numbers_len` ≥ 1 bytes.
    unsafe { port_numbers.write(dev.port) };
    1
}

/// The root hub is not modelled: no parent, as libusb reports for a device
/// whose parent it has not enumerated.
#[no_mangle]
pub unsafe extern "C" fn libusb_get_parent(_dev: *const Device) -> *const Device {
    ptr::null()
}

#[no_mangle]
pub unsafe extern "C" fn libusb_get_device_address(dev: *const Device) -> u8 {
    unsafe { device(dev) }.map_or(0, |d| d.address)
}

#[no_mangle]
pub unsafe extern "C" fn libusb_get_device_speed(_dev: *const Device) -> c_int {
    LIBUSB_SPEED_FULL
}

// ---- handles ----

/// SAFETY: `h` is NULL or a live handle from this library.
unsafe fn handle<'a>(h: *mut Handle) -> Option<&'a Handle> {
    unsafe { h.as_ref() }
}

/// Run `f` on the handle, INVALID_PARAM for NULL, OTHER after a panic.
fn with_handle(h: Option<&Handle>, f: impl FnOnce(&Handle) -> c_int) -> c_int {
    guard(LIBUSB_ERROR_OTHER, || match h {
        Some(h) => f(h),
        None => LIBUSB_ERROR_INVALID_PARAM,
    })
}

#[no_mangle]
pub unsafe extern "C" fn libusb_open(dev: *const Device, dev_handle: *mut *mut Handle) -> c_int {
    guard(LIBUSB_ERROR_OTHER, || {
        if dev.is_null() || dev_handle.is_null() {
            return LIBUSB_ERROR_INVALID_PARAM;
        }
        // SAFETY: `dev` is live; the handle takes a reference of its own.
        let device = unsafe {
            Arc::increment_strong_count(dev);
            Arc::from_raw(dev)
        };
        debug(format_args!("libusb_open {}", device.dir.display()));
        match Handle::open(device) {
            Ok(h) => {
                // SAFETY: `dev_handle` is writable.
                unsafe { *dev_handle = Box::into_raw(Box::new(h)) };
                LIBUSB_SUCCESS
            }
            Err(code) => code,
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn libusb_open_device_with_vid_pid(
    _ctx: *mut Context,
    vendor_id: u16,
    product_id: u16,
) -> *mut Handle {
    guard(ptr::null_mut(), || {
        devices::enumerate()
            .into_iter()
            .find(|d| {
                let desc = libusb_device_descriptor::from_bytes(&d.device_descriptor());
                (desc.idVendor, desc.idProduct) == (vendor_id, product_id)
            })
            .and_then(|d| Handle::open(Arc::new(d)).ok())
            .map_or(ptr::null_mut(), |h| Box::into_raw(Box::new(h)))
    })
}

#[no_mangle]
pub unsafe extern "C" fn libusb_wrap_sys_device(
    _ctx: *mut Context,
    _sys_dev: isize,
    _dev_handle: *mut *mut Handle,
) -> c_int {
    LIBUSB_ERROR_NOT_SUPPORTED
}

#[no_mangle]
pub unsafe extern "C" fn libusb_close(dev_handle: *mut Handle) {
    guard((), || {
        if !dev_handle.is_null() {
            debug(format_args!("libusb_close"));
            // SAFETY: from `libusb_open`, closed once. Dropping releases the
            // device's lock and the handle's device reference.
            drop(unsafe { Box::from_raw(dev_handle) });
        }
    })
}

/// The handle's device, without a new reference (as in libusb).
#[no_mangle]
pub unsafe extern "C" fn libusb_get_device(dev_handle: *mut Handle) -> *const Device {
    unsafe { handle(dev_handle) }.map_or(ptr::null(), |h| Arc::as_ptr(&h.device))
}

#[no_mangle]
pub unsafe extern "C" fn libusb_get_configuration(
    dev_handle: *mut Handle,
    config: *mut c_int,
) -> c_int {
    with_handle(unsafe { handle(dev_handle) }, |h| {
        if config.is_null() {
            return LIBUSB_ERROR_INVALID_PARAM;
        }
        match h.get_configuration() {
            Ok(value) => {
                // SAFETY: `config` is writable.
                unsafe { config.write(c_int::from(value)) };
                LIBUSB_SUCCESS
            }
            Err(code) => code,
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn libusb_set_configuration(
    dev_handle: *mut Handle,
    configuration: c_int,
) -> c_int {
    with_handle(unsafe { handle(dev_handle) }, |h| {
        code(h.set_configuration(configuration))
    })
}

#[no_mangle]
pub unsafe extern "C" fn libusb_claim_interface(
    dev_handle: *mut Handle,
    interface_number: c_int,
) -> c_int {
    with_handle(unsafe { handle(dev_handle) }, |h| {
        let r = code(h.claim(interface_number));
        debug(format_args!(
            "libusb_claim_interface {interface_number} -> {r}"
        ));
        r
    })
}

#[no_mangle]
pub unsafe extern "C" fn libusb_release_interface(
    dev_handle: *mut Handle,
    interface_number: c_int,
) -> c_int {
    with_handle(unsafe { handle(dev_handle) }, |h| {
        code(h.release(interface_number))
    })
}

#[no_mangle]
pub unsafe extern "C" fn libusb_set_interface_alt_setting(
    dev_handle: *mut Handle,
    interface_number: c_int,
    alternate_setting: c_int,
) -> c_int {
    with_handle(unsafe { handle(dev_handle) }, |h| {
        let r = code(h.set_alt_setting(interface_number, alternate_setting));
        debug(format_args!(
            "libusb_set_interface_alt_setting {interface_number} {alternate_setting} -> {r}"
        ));
        r
    })
}

#[no_mangle]
pub unsafe extern "C" fn libusb_reset_device(dev_handle: *mut Handle) -> c_int {
    with_handle(unsafe { handle(dev_handle) }, |h| {
        let r = code(h.reset());
        debug(format_args!("libusb_reset_device -> {r}"));
        r
    })
}

/// The DFU interface has no endpoints to halt.
#[no_mangle]
pub unsafe extern "C" fn libusb_clear_halt(dev_handle: *mut Handle, _endpoint: c_uchar) -> c_int {
    with_handle(unsafe { handle(dev_handle) }, |_| LIBUSB_ERROR_NOT_FOUND)
}

/// No kernel driver binds to a DFU interface.
#[no_mangle]
pub unsafe extern "C" fn libusb_kernel_driver_active(
    dev_handle: *mut Handle,
    _interface: c_int,
) -> c_int {
    with_handle(unsafe { handle(dev_handle) }, |_| 0)
}

#[no_mangle]
pub unsafe extern "C" fn libusb_detach_kernel_driver(
    dev_handle: *mut Handle,
    _interface: c_int,
) -> c_int {
    with_handle(unsafe { handle(dev_handle) }, |_| LIBUSB_ERROR_NOT_FOUND)
}

#[no_mangle]
pub unsafe extern "C" fn libusb_attach_kernel_driver(
    dev_handle: *mut Handle,
    _interface: c_int,
) -> c_int {
    with_handle(unsafe { handle(dev_handle) }, |_| LIBUSB_ERROR_NOT_FOUND)
}

#[no_mangle]
pub unsafe extern "C" fn libusb_set_auto_detach_kernel_driver(
    dev_handle: *mut Handle,
    _enable: c_int,
) -> c_int {
    with_handle(unsafe { handle(dev_handle) }, |_| LIBUSB_SUCCESS)
}

/// Synchronous control transfer. The virtual device answers at once, so
/// `timeout` never expires; a busy DFU device says so in GETSTATUS.
#[no_mangle]
pub unsafe extern "C" fn libusb_control_transfer(
    dev_handle: *mut Handle,
    request_type: u8,
    b_request: u8,
    w_value: u16,
    w_index: u16,
    data: *mut c_uchar,
    w_length: u16,
    timeout: c_uint,
) -> c_int {
    with_handle(unsafe { handle(dev_handle) }, |h| {
        let setup = Setup {
            request_type,
            request: b_request,
            value: w_value,
            index: w_index,
            length: w_length,
        };
        let is_in = request_type & 0x80 != 0;
        let mut out_copy: Vec<u8>;
        let buf: &mut [u8] = match (data.is_null(), w_length) {
            (_, 0) => &mut [],
            (true, _) => return LIBUSB_ERROR_INVALID_PARAM,
            // SAFETY: for IN, `data` holds `wLength` writable bytes.
            (false, n) if is_in => unsafe { std::slice::from_raw_parts_mut(data, usize::from(n)) },
            // For OUT the caller may pass a pointer made from read-only data
            // (rusb does): read it, never form a `&mut` over it.
            (false, n) => {
                // SAFETY: `data` holds `wLength` readable bytes.
                out_copy = unsafe { std::slice::from_raw_parts(data, usize::from(n)) }.to_vec();
                &mut out_copy
            }
        };
        // libusb: 0 means no timeout.
        let timeout = (timeout != 0).then(|| Duration::from_millis(u64::from(timeout)));
        let result = h.control_within(setup, buf, timeout);
        debug(format_args!("control {setup} -> {result:?}"));
        match result {
            Ok(n) => n as c_int,
            Err(code) => code,
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn libusb_get_string_descriptor_ascii(
    dev_handle: *mut Handle,
    desc_index: u8,
    data: *mut c_uchar,
    length: c_int,
) -> c_int {
    with_handle(unsafe { handle(dev_handle) }, |h| {
        if data.is_null() || length <= 0 {
            return LIBUSB_ERROR_INVALID_PARAM;
        }
        // SAFETY: `data` holds `length` writable bytes.
        let out = unsafe { std::slice::from_raw_parts_mut(data, length as usize) };
        match h.string_ascii(desc_index, out) {
            Ok(n) => n as c_int,
            Err(code) => code,
        }
    })
}

/// No bulk or interrupt endpoints exist on the DFU interface.
#[no_mangle]
pub unsafe extern "C" fn libusb_bulk_transfer(
    dev_handle: *mut Handle,
    _endpoint: c_uchar,
    _data: *mut c_uchar,
    _length: c_int,
    _transferred: *mut c_int,
    _timeout: c_uint,
) -> c_int {
    with_handle(unsafe { handle(dev_handle) }, |_| LIBUSB_ERROR_NOT_FOUND)
}

#[no_mangle]
pub unsafe extern "C" fn libusb_interrupt_transfer(
    dev_handle: *mut Handle,
    _endpoint: c_uchar,
    _data: *mut c_uchar,
    _length: c_int,
    _transferred: *mut c_int,
    _timeout: c_uint,
) -> c_int {
    with_handle(unsafe { handle(dev_handle) }, |_| LIBUSB_ERROR_NOT_FOUND)
}

// ---- events and hotplug: nothing is ever asynchronous here ----

#[no_mangle]
pub unsafe extern "C" fn libusb_handle_events_timeout_completed(
    _ctx: *mut Context,
    _tv: *const c_void,
    _completed: *mut c_int,
) -> c_int {
    LIBUSB_SUCCESS
}

#[no_mangle]
pub unsafe extern "C" fn libusb_handle_events_completed(
    _ctx: *mut Context,
    _completed: *mut c_int,
) -> c_int {
    LIBUSB_SUCCESS
}

#[no_mangle]
pub unsafe extern "C" fn libusb_interrupt_event_handler(_ctx: *mut Context) {}

/// 0: no timeout pending.
#[no_mangle]
pub unsafe extern "C" fn libusb_get_next_timeout(_ctx: *mut Context, _tv: *mut c_void) -> c_int {
    0
}

/// Hotplug is not offered (`libusb_has_capability(HAS_HOTPLUG)` is 0).
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn libusb_hotplug_register_callback(
    _ctx: *mut Context,
    _events: c_int,
    _flags: c_int,
    _vendor_id: c_int,
    _product_id: c_int,
    _dev_class: c_int,
    _cb_fn: *const c_void,
    _user_data: *mut c_void,
    _callback_handle: *mut c_int,
) -> c_int {
    LIBUSB_ERROR_NOT_SUPPORTED
}

#[no_mangle]
pub unsafe extern "C" fn libusb_hotplug_deregister_callback(
    _ctx: *mut Context,
    _callback_handle: c_int,
) {
}
