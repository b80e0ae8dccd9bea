use super::*;

fn canvas(w: u32, h: u32) -> Frame {
    Frame::from_rgba(w, h, vec![0; (w * h * 4) as usize])
}

fn fill(f: &mut Frame, r: Rect, px: [u8; 4]) {
    for y in r.y..r.bottom() {
        for x in r.x..r.right() {
            let i = ((y * f.width + x) * 4) as usize;
            f.pixels[i..i + 4].copy_from_slice(&px);
        }
    }
}

#[test]
fn box_ignores_far_specks() {
    let mut f = canvas(400, 300);
    let product = Rect {
        x: 50,
        y: 60,
        w: 200,
        h: 120,
    };
    fill(&mut f, product, [200, 30, 30, 255]);
    fill(
        &mut f,
        Rect {
            x: 380,
            y: 280,
            w: 4,
            h: 4,
        },
        [0, 0, 0, 90],
    );
    fill(
        &mut f,
        Rect {
            x: 5,
            y: 5,
            w: 3,
            h: 3,
        },
        [255, 255, 255, 255],
    );
    let a = analyse(&mut f);
    assert_eq!(a.kind, SourceKind::Cutout);
    assert_eq!(a.product, Some(product));
    assert_eq!(a.specks.len(), 2);
    assert!(a.in_speck(381, 281));
    assert!(!a.in_speck(100, 100));
}

#[test]
fn tiny_images_do_not_panic() {
    let mut f = Frame::from_rgba(1, 1, vec![10, 20, 30, 200]);
    let a = analyse(&mut f);
    assert!(
        a.product.is_none()
            || a.product
                == Some(Rect {
                    x: 0,
                    y: 0,
                    w: 1,
                    h: 1
                })
    );
    let mut f = Frame::from_rgba(2, 1, vec![10, 20, 30, 0, 1, 2, 3, 255]);
    assert_eq!(
        analyse(&mut f).product,
        Some(Rect {
            x: 1,
            y: 0,
            w: 1,
            h: 1
        })
    );
}

#[test]
fn photo_with_one_translucent_pixel_is_not_a_cutout() {
    let mut f = Frame::from_rgba(
        100,
        100,
        (0..100 * 100 * 4)
            .map(|i| (i * 7 % 251) as u8 | 1)
            .collect(),
    );
    for p in f.pixels.chunks_exact_mut(4) {
        p[3] = 255;
    }
    f.pixels[3] = 254;
    assert_eq!(analyse(&mut f).kind, SourceKind::Scene);
}

#[test]
fn opaque_accessory_is_kept() {
    let mut f = canvas(1200, 900);
    fill(
        &mut f,
        Rect {
            x: 100,
            y: 50,
            w: 800,
            h: 800,
        },
        [9, 9, 9, 255],
    );
    fill(
        &mut f,
        Rect {
            x: 1000,
            y: 400,
            w: 55,
            h: 55,
        },
        [200, 9, 9, 255],
    );
    let a = analyse(&mut f);
    assert_eq!(
        a.product,
        Some(Rect {
            x: 100,
            y: 50,
            w: 955,
            h: 800
        })
    );
}

#[test]
fn two_part_product_is_kept_whole() {
    let mut f = canvas(400, 300);
    fill(
        &mut f,
        Rect {
            x: 20,
            y: 20,
            w: 100,
            h: 100,
        },
        [9, 9, 9, 255],
    );
    fill(
        &mut f,
        Rect {
            x: 250,
            y: 150,
            w: 80,
            h: 100,
        },
        [9, 9, 9, 255],
    );
    let a = analyse(&mut f);
    assert_eq!(
        a.product,
        Some(Rect {
            x: 20,
            y: 20,
            w: 310,
            h: 230
        })
    );
}

#[test]
fn premultiplied_edges_are_detected() {
    let mut f = canvas(300, 300);
    fill(
        &mut f,
        Rect {
            x: 100,
            y: 100,
            w: 100,
            h: 100,
        },
        [220, 200, 180, 255],
    );
    // A soft edge ramp, stored premultiplied (as rembg writes it).
    for y in 90..210 {
        for x in 90..100 {
            let a = ((x - 89) * 23) as u8;
            let i = ((y * 300 + x) * 4) as usize;
            let m = |c: u32| (c * u32::from(a) / 255) as u8;
            f.pixels[i..i + 4].copy_from_slice(&[m(220), m(200), m(180), a]);
        }
    }
    assert!(analyse(&mut f.clone()).premultiplied_edges);
    // The same edge in straight alpha is not.
    for y in 90..210 {
        for x in 90..100 {
            let i = ((y * 300 + x) * 4) as usize;
            f.pixels[i..i + 3].copy_from_slice(&[220, 200, 180]);
        }
    }
    assert!(!analyse(&mut f).premultiplied_edges);
}

#[test]
fn sweep_is_keyed_and_boxed() {
    let mut f = canvas(300, 300);
    for y in 0..300u32 {
        for x in 0..300u32 {
            let v = 246 - (y / 60) as u8; // gentle vertical gradient
            let i = ((y * 300 + x) * 4) as usize;
            f.pixels[i..i + 4].copy_from_slice(&[v, v, v - 2, 255]);
        }
    }
    f.source.has_alpha = false;
    fill(
        &mut f,
        Rect {
            x: 100,
            y: 80,
            w: 90,
            h: 150,
        },
        [40, 60, 150, 255],
    );
    let a = analyse(&mut f);
    assert!(matches!(a.kind, SourceKind::Sweep { .. }), "{:?}", a.kind);
    assert_eq!(
        a.product,
        Some(Rect {
            x: 100,
            y: 80,
            w: 90,
            h: 150
        })
    );
    assert_eq!(f.pixels[3], 0, "background keyed out");
}
