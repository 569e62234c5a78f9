//! Generation of the uint8 images every case is run on: proptest strategies, driven
//! deterministically so that `(seed, input number)` names one image for good.

use ndarray::ArrayD;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// An image as the cases receive it: shape (H, W) or (H, W, C), uint8.
pub type Image = ArrayD<u8>;

/// Draws images: input `i` of seed `s` is the same image on every run and for every case, so
/// a report row's (seed, input) is enough to regenerate its input.
pub struct ImageGenerator {
    seed: u64,
    strategy: BoxedStrategy<Image>,
}

impl ImageGenerator {
    pub fn new(seed: u64, max_side: usize) -> ImageGenerator {
        ImageGenerator {
            seed,
            strategy: image_strategy(max_side.max(1)).boxed(),
        }
    }

    pub fn image(&self, input: u64) -> Image {
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes(self.seed, input));
        let config = Config {
            failure_persistence: None,
            ..Config::default()
        };
        let mut runner = TestRunner::new_with_rng(config, rng);
        self.strategy
            .new_tree(&mut runner)
            .expect("image strategies have no filters, so drawing cannot be rejected")
            .current()
    }
}

/// Rank 2 or 3, sides 1..=max_side, 1, 3 or 4 channels, pixels uniform over 0..=255.
pub fn image_strategy(max_side: usize) -> impl Strategy<Value = Image> {
    (
        prop_oneof![Just(2usize), Just(3usize)],
        1..=max_side,
        1..=max_side,
        prop::sample::select(vec![1usize, 3, 4]),
    )
        .prop_flat_map(|(rank, height, width, channels)| {
            let shape = if rank == 2 {
                vec![height, width]
            } else {
                vec![height, width, channels]
            };
            let len: usize = shape.iter().product();
            proptest::collection::vec(any::<u8>(), len).prop_map(move |pixels| {
                ArrayD::from_shape_vec(shape.clone(), pixels)
                    .expect("length is the shape's product")
            })
        })
}

/// 32 bytes of ChaCha seed from (run seed, input number), mixed with splitmix64 so that
/// neighbouring inputs get unrelated streams.
fn seed_bytes(seed: u64, input: u64) -> [u8; 32] {
    let mut state = seed ^ input.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
    let mut bytes = [0u8; 32];
    for chunk in bytes.chunks_mut(8) {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_and_input_give_the_same_image() {
        let one = ImageGenerator::new(7, 32);
        let two = ImageGenerator::new(7, 32);
        for input in 0..20 {
            assert_eq!(one.image(input), two.image(input));
        }
        assert_ne!(one.image(0), one.image(1));
        assert_ne!(one.image(0), ImageGenerator::new(8, 32).image(0));
    }

    #[test]
    fn shapes_cover_both_ranks_all_channel_counts_and_stay_within_max_side() {
        let generator = ImageGenerator::new(1, 16);
        let images: Vec<Image> = (0..300).map(|i| generator.image(i)).collect();
        assert!(images.iter().any(|im| im.ndim() == 2));
        for channels in [1, 3, 4] {
            assert!(
                images
                    .iter()
                    .any(|im| im.ndim() == 3 && im.shape()[2] == channels),
                "no image with {channels} channels"
            );
        }
        for image in &images {
            assert!(image.ndim() == 2 || image.ndim() == 3);
            assert!(image.shape()[..2]
                .iter()
                .all(|&side| (1..=16).contains(&side)));
        }
        assert!(images
            .iter()
            .any(|im| im.shape()[0] == 1 || im.shape()[1] == 1));
    }

    #[test]
    fn pixels_span_the_whole_uint8_range() {
        let generator = ImageGenerator::new(3, 64);
        let (mut low, mut high) = (255u8, 0u8);
        for input in 0..20 {
            for &pixel in generator.image(input).iter() {
                low = low.min(pixel);
                high = high.max(pixel);
            }
        }
        assert_eq!((low, high), (0, 255));
    }
}
